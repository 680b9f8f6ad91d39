// "Copy as curl": the API call that requests the same report, with $TOKEN for the token
// (the real token never goes to the clipboard).

function shellQuote(text) {
  return `'${String(text).replace(/'/g, "'\\''")}'`;
}

export function curlFor(report) {
  const url = `${window.location.origin}/api/v1/reports/${encodeURIComponent(report.reportType)}`;
  const body = JSON.stringify({ format: report.format, parameters: report.parameters || {} });
  return [
    `curl -s -X POST ${shellQuote(url)}`,
    `  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json'`,
    `  -d ${shellQuote(body)}`,
  ].join(" \\\n");
}
