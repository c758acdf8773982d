// The console's only back end is the public API on the same origin: every call carries the
// bearer token the user typed (kept in sessionStorage, so it lives as long as the tab) and every
// failure becomes an ApiFailure with a message a person can act on.

export interface ErrorBody {
  error: { code: string; message: string; request_id?: string; [detail: string]: unknown };
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }

  /** What to show: the API's own message, its code and request id (for a support question). */
  describe(): string {
    const id = this.requestId ? `, request ${this.requestId}` : '';
    return `${this.message} (${this.code}${id})`;
  }
}

export type Fetcher = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** A caller of the API with one bearer token (an API key or the admin token). */
export function client(token: string): Fetcher {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiFailure(0, 'NETWORK', `The API did not answer: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T;
    const err = (json as ErrorBody | undefined)?.error;
    if (!err) throw new ApiFailure(res.status, `HTTP_${res.status}`, `The API answered ${res.status} without an error body`);
    throw new ApiFailure(res.status, err.code, err.message, err.request_id);
  };
}

/** The message shown when a token is refused, by what the API said. */
export function signInProblem(e: unknown, what: 'API key' | 'admin token'): string {
  if (e instanceof ApiFailure) {
    if (e.status === 401) return `That ${what} was not accepted. Check it for a typo, or ask for a new one. The API said: ${e.describe()}`;
    if (e.status === 403) return `The admin API is turned off on this server (no ADMIN_TOKEN is set). The API said: ${e.describe()}`;
    return e.describe();
  }
  return String(e);
}

export const enc = encodeURIComponent;

export type Vendor = 'livekit' | 'agora' | 'zego';

export interface Room {
  room: string;
  name: string;
  vendor: Vendor;
  created_at: string;
  max_participants: number | null;
  num_participants?: number | null;
  live?: boolean;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Participant {
  identity: string;
  display_name: string | null;
  joined_at: string | null;
}

export interface RtcEvent {
  event: string;
  type: string;
  room: string | null;
  vendor: string;
  identity: string | null;
  seq: number;
  occurred_at: string;
  received_at: string;
}

export interface Recording {
  recording: string;
  room: string;
  status: string;
  vendor: Vendor;
  output_uri: string;
  started_at: string | null;
  ended_at: string | null;
  files: { location: string; size_bytes: number | null; duration_ms: number | null }[];
  /** Present only when the recording ended badly: rtcgate's own words. */
  error?: string;
}

/** A project's own recording storage (`recording/destination/list`); never its credentials. */
export interface Destination {
  destination: string;
  uri: string;
  kind: 's3' | 'gs' | 'azure';
  created_at: string;
}

export interface Webhook {
  webhook: string;
  url: string;
  types: string[] | null;
  created_at: string;
  secret?: string;
  delivery?: {
    last_attempt_at: string | null;
    last_status: number | null;
    last_error: string | null;
    consecutive_failures: number;
    delivered: number;
    dead_lettered: number;
  };
}

export interface Usage {
  from: string;
  to: string;
  totals: { sessions: number; participant_seconds: number; participant_minutes: number };
  rooms: { room: string; sessions: number; participant_seconds: number; participant_minutes: number }[];
}

export interface Issued {
  token: string;
  room: string;
  name: string;
  identity: string;
  vendor: Vendor;
  expires_at: string;
  join: Record<string, string | number>;
}

export interface Discovery {
  capability: string;
  vendors: { vendor: Vendor; status: string; default: boolean }[];
}
