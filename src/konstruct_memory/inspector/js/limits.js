// The contract's limits (most hits of a recall, largest history page, longest listing, ...), as
// the service states them in limits.json: no view restates a number the service decides.

const answer = await fetch(new URL("../limits.json", import.meta.url));
if (!answer.ok) throw new Error(`limits.json answered ${answer.status}`);

export const LIMITS = Object.freeze(await answer.json());
