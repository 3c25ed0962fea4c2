// npm's EventSource (what browsers do) on a watch URL: prints one JSON line per event or error,
// with the last event id the EventSource holds, until it has seen `count` events or it closes.
import { EventSource } from "eventsource";

const [url, count] = [process.argv[2], Number(process.argv[3] ?? "1000000")];
let seen = 0;
let opened = 0;
const source = new EventSource(url, {
  fetch: (input, init) => { opened += 1; return fetch(input, init); },
});
const print = (entry) => console.log(JSON.stringify({ ...entry, opened, readyState: source.readyState }));
for (const type of ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]) {
  source.addEventListener(type, (event) => {
    print({ type, lastEventId: event.lastEventId, data: JSON.parse(event.data) });
    seen += 1;
    if (seen >= count) { source.close(); }
  });
}
source.onerror = (error) => {
  print({ type: "error", code: error.code ?? null, message: error.message ?? null });
  if (source.readyState === EventSource.CLOSED) { process.exit(0); }
};
