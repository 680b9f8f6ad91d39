// How values read on the page: times in the browser's zone (or UTC), sizes, durations.

let useUtc = false;

export function setUtc(value) {
  useUtc = Boolean(value);
}

export function zoneName() {
  return useUtc ? "UTC" : Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium",
    timeStyle: "medium",
    timeZone: useUtc ? "UTC" : undefined,
  }).format(date);
}

// A scheduled run: the weekday matters, seconds do not, and the zone is named.
export function formatRun(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
    timeZone: useUtc ? "UTC" : undefined,
  }).format(date);
}

export function formatClock(iso) {
  const date = new Date(iso);
  return new Intl.DateTimeFormat(undefined, {
    timeStyle: "medium",
    timeZone: useUtc ? "UTC" : undefined,
  }).format(date);
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  if (seconds < 1) return "under a second";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function secondsBetween(fromIso, toIso) {
  if (!fromIso) return null;
  const to = toIso ? new Date(toIso) : new Date();
  return Math.max(0, (to.getTime() - new Date(fromIso).getTime()) / 1000);
}

export function formatCount(value) {
  return new Intl.NumberFormat().format(value);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(value)} ${units[unit]}`;
}

// "fromDate" → "From date", "user_id" → "User id": a label when the schema has no title.
export function humanize(name) {
  const words = String(name)
    .replace(/[_-]+/g, " ")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// The parameters in one short line: "fromDate 2026-01-01 · device web".
export function summarizeParameters(parameters) {
  const parts = Object.entries(parameters || {}).map(([name, value]) => {
    const shown = Array.isArray(value) ? value.join(", ") : typeof value === "object" ? JSON.stringify(value) : String(value);
    return `${name} ${shown}`;
  });
  const line = parts.join(" · ");
  return line.length > 160 ? `${line.slice(0, 159)}…` : line || "no parameters";
}
