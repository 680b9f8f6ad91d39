// The history's filters live in the URL, so a view can be bookmarked or shared. The token
// never does.

// definition: the runs of one saved definition (its id).
const KEYS = ["status", "type", "format", "id", "definition"];

export function readFilters(search = window.location.search) {
  const params = new URLSearchParams(search);
  const filters = {};
  for (const key of KEYS) {
    const value = (params.get(key) || "").trim();
    if (value) filters[key] = value;
  }
  const page = Number.parseInt(params.get("page") || "1", 10);
  filters.page = Number.isFinite(page) && page > 0 ? page : 1;
  return filters;
}

export function writeFilters(filters) {
  const params = new URLSearchParams();
  for (const key of KEYS) if (filters[key]) params.set(key, filters[key]);
  if (filters.page && filters.page > 1) params.set("page", String(filters.page));
  const search = params.toString();
  const url = `${window.location.pathname}${search ? `?${search}` : ""}`;
  if (url !== `${window.location.pathname}${window.location.search}`) window.history.pushState(null, "", url);
}
