/** An API Gateway HTTP API event (payload format 2.0) as the router's request: the API and stop functions share it. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { HttpRequest } from '../api/http.js';

export function toHttpRequest(event: APIGatewayProxyEventV2): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(event.headers ?? {})) headers[key.toLowerCase()] = value;
  const query: Record<string, string | undefined> = { ...(event.queryStringParameters ?? {}) };
  const body =
    event.body === undefined
      ? null
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  return { method: event.requestContext.http.method, path: event.rawPath, query, headers, body };
}
