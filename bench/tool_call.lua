-- wrk script for the call benchmark: POST one 2026-07-28 tools/call of the echo tool (as an
-- MCP client sends it), and print the figures as one JSON line at the end; an answer other
-- than 2xx counts as an error.
--   wrk -t2 -c16 -d5s -s bench/tool_call.lua http://127.0.0.1:PORT/mcp

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",'
  .. '"arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":'
  .. '"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "echo"

-- done(): the figures as one JSON line, from the file beside this one.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")
