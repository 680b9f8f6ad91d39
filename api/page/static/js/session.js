// The token lives in this tab's sessionStorage only: never a cookie, never the URL.

const KEY = "reportbox.token";

export function currentToken() {
  return window.sessionStorage.getItem(KEY);
}

export function keepToken(token) {
  window.sessionStorage.setItem(KEY, token);
}

export function forgetToken() {
  window.sessionStorage.removeItem(KEY);
}

// What the token says about its holder, for display only: the API decides what they may do.
export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "="));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
    return claims && typeof claims === "object" ? claims : {};
  } catch (error) {
    return {};
  }
}

export function rolesOf(claims) {
  return Array.isArray(claims.roles) ? claims.roles.filter((role) => typeof role === "string") : [];
}
