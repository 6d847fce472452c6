/**
 * The dashboard path of a node's page. Always by id (a did:key, URL-encoded): hostnames are not
 * unique across a fleet's history (a removed node keeps its name, old data may clash), and a
 * link by hostname would open the wrong node or a conflict.
 */
export function nodePath(id: string): string {
  return `/nodes/${encodeURIComponent(id)}`;
}
