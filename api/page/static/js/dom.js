// Building DOM nodes. Every string becomes a text node or an attribute value: nothing from
// the API is ever parsed as HTML (no innerHTML anywhere in this page).

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setText(node, text) {
  node.textContent = text ?? "";
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

export function byId(id) {
  return document.getElementById(id);
}

// A status badge: a symbol (hidden from screen readers) and a word, never colour alone.
// kind picks the colours (.badge-completed, .badge-failed, …).
export function badge(kind, symbol, word, dataset) {
  return el("span", { class: `badge badge-${kind}`, dataset }, el("span", { "aria-hidden": "true" }, symbol), " ", word);
}
