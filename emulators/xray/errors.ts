/** JFrog-style error responses: `{"errors":[{"status":400,"message":"..."}]}`. */
import type { ServerResponse } from 'node:http';

export function sendError(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ errors: [{ status, message }] });
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  response.end(body);
}
