// The official MCP TypeScript SDK against one server: reads a plan of tool calls (JSON on
// stdin), prints one JSON document with the server's identity, its tools and every result.
// The SDK validates each tool's structured content against its output schema (ajv); a
// mismatch is reported as that call's error.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = process.argv[2];
const plan = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => { text += chunk; });
  process.stdin.on("end", () => resolve(text || "[]"));
}));

const client = new Client({ name: "mcp-mesh-interop", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const { tools } = await client.listTools();
const calls = [];
for (const { tool, arguments: args } of plan) {
  try {
    const result = await client.callTool({ name: tool, arguments: args });
    calls.push({ tool, isError: result.isError ?? false, structuredContent: result.structuredContent ?? null,
                 text: (result.content ?? []).map((c) => c.text ?? "").join("") });
  } catch (error) {
    calls.push({ tool, exception: String(error) });
  }
}
console.log(JSON.stringify({
  protocolVersion: client.transport?.protocolVersion ?? null,
  serverInfo: client.getServerVersion(),
  tools: tools.map((t) => ({ name: t.name, annotations: t.annotations ?? null })),
  calls,
}));
await client.close();
