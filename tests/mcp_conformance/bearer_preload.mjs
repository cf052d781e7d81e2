// Loaded into the MCP conformance runner (node --import): it has no authentication
// settings, and wakeful's /mcp refuses a request without a token. Every HTTP request the
// runner makes (the MCP SDK's fetch and undici's request share undici's global dispatcher)
// gets `Authorization: Bearer $WAKEFUL_MCP_TOKEN` unless it already has one, or it names a
// Host that is not loopback: that is the dns-rebinding-protection scenario's attacker, a web
// page of another site, which cannot hold the user's token (a bearer token is no cookie).
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.env.WAKEFUL_NPM_DIR, "package.json"));
const { getGlobalDispatcher, setGlobalDispatcher } = require("undici");
const value = `Bearer ${process.env.WAKEFUL_MCP_TOKEN}`;

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

function pairs(headers) {
  if (Array.isArray(headers)) {
    return headers.flatMap((h, i) => (i % 2 === 0 ? [[String(h), headers[i + 1]]] : []));
  }
  return Object.entries(headers ?? {});
}

function withToken(headers) {
  const named = pairs(headers);
  const find = (name) => named.find(([k]) => k.toLowerCase() === name)?.[1];
  const host = find("host");
  if (find("authorization") !== undefined) return headers;
  if (host !== undefined && !LOOPBACK.has(new URL(`http://${host}`).hostname)) return headers;
  if (Array.isArray(headers)) return [...headers, "authorization", value];
  return { ...Object.fromEntries(named), authorization: value };
}

setGlobalDispatcher(
  getGlobalDispatcher().compose((dispatch) => (opts, handler) =>
    dispatch({ ...opts, headers: withToken(opts.headers) }, handler)),
);
