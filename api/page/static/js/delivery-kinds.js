// The delivery kinds as the page offers them (DESIGN.md section 9), and the pure rules of
// the deliveries part of a form: how its inputs become the API's list, and where the API's
// refusals go.

const DEFAULT_SUBJECT = "{name} ({scheduledDate})";
const DEFAULT_KEY_TEMPLATE = "{definitionName}/{scheduledDate}/{fileName}";
const PREFIX = "deliveries.";

// Each kind's inputs, by the API's member names. `list`: several values in one input;
// `secret`: a password input; `file`: read as text (a private key keeps its line breaks,
// which an <input> would drop); `number`: sent as a number.
export const KINDS = {
  email: {
    label: "E-mail",
    add: "Add an e-mail",
    adminOnly: false,
    fields: [
      { name: "recipients", label: "Recipients", list: true, hint: "1 to 20 addresses, separated by commas." },
      { name: "subject", label: "Subject", value: DEFAULT_SUBJECT, hint: "May use {name} and {scheduledDate}." },
      {
        name: "attach",
        label: "Attach the file",
        options: [
          ["auto", "Attach it when it is at most 10 MiB, else link to it"],
          ["never", "Never: link to the report in this page"],
        ],
      },
    ],
  },
  s3: {
    label: "S3 bucket",
    add: "Add an S3 bucket",
    adminOnly: true,
    fields: [
      { name: "bucket", label: "Bucket" },
      { name: "prefix", label: "Prefix", optional: true, hint: "Optional: a folder in the bucket." },
      { name: "endpointUrl", label: "Endpoint URL", optional: true, hint: "Optional: empty for AWS; https for another store." },
      { name: "region", label: "Region", value: "us-east-1" },
      { name: "accessKeyId", label: "Access key id" },
      { name: "secretAccessKey", label: "Secret access key", secret: true },
      { name: "keyTemplate", label: "Key template", value: DEFAULT_KEY_TEMPLATE, hint: "May use {definitionName}, {scheduledDate} and {fileName}." },
    ],
  },
  sftp: {
    label: "SFTP server",
    add: "Add an SFTP server",
    adminOnly: true,
    fields: [
      { name: "host", label: "Host" },
      { name: "port", label: "Port", value: "22", number: true },
      { name: "username", label: "User name" },
      { name: "password", label: "Password", secret: true, optional: true, hint: "A password or a private key, not both." },
      { name: "privateKey", label: "Private key file", file: true, optional: true, hint: "OpenSSH or PEM; read here, sent once, never shown." },
      { name: "hostKeySha256", label: "Host key (SHA256)", hint: "As ssh-keygen -lf prints it, e.g. SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8." },
      { name: "path", label: "Directory", value: ".", hint: "Where the file goes on the server." },
    ],
  },
};

export const SEND_WHEN = [
  ["always", "After every completed run"],
  ["hasRows", "Only when the run has rows"],
  ["changed", "Only when the file differs from the last one delivered"],
];

// The values of a list input ("a@x.org, b@y.org") as the API takes them.
export function splitList(text) {
  return text.split(/[\s,;]+/).filter(Boolean);
}

// A problem+json key ("deliveries.0.recipients.1") as [target index, member, rest], or null.
export function deliveryKey(key) {
  if (key !== "deliveries" && !key.startsWith(PREFIX)) return null;
  const [index, member, ...rest] = key.slice(PREFIX.length).split(".");
  const position = /^\d+$/.test(index || "") ? Number(index) : null;
  return [position, member || null, rest.join(".") || null];
}

export const MASK = "********"; // what the API shows for a stored secret, and takes back to keep it

// The deliveries list to send: the targets (each `{ origin }`: its index in `original`, or
// null for one added now) in the slots of the original's non-api entries, the api entries
// where they were, added targets at the end, so the list reads as it was saved. (The API
// keeps a secret sent back as MASK from the saved target with the same destination wherever
// it sits, looking at the same index first.) [list of targets or null (an api entry), in the
// order sent].
export function arrange(original, targets) {
  const waiting = [...targets];
  const slots = [];
  for (const entry of original) {
    if (entry.kind === "api") slots.push(null);
    else if (waiting.length) slots.push(waiting.shift());
  }
  return [...slots, ...waiting];
}
