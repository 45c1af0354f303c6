// Package fakegenesys is a local stand-in for Genesys Cloud presence, strict
// enough that code which passes against it has met the rules the real
// service enforces.
//
// It serves, from one http.Handler, what the real service spreads over its
// login, api and streaming hosts:
//
//   - POST /oauth/token: the client_credentials grant, with the client's
//     credentials in HTTP Basic only (the form's client_id and
//     client_secret alone are refused, as Genesys does);
//   - the platform API under /api/v2 with bearer tokens: presence
//     definitions (current and deprecated paths), user search by email,
//     users with expand=presence,routingStatus, PURECLOUD presence (get,
//     patch, bulk get), routing status, and notification channels with
//     their topic subscriptions;
//   - the notification WebSocket at /channels/{id}, with heartbeats,
//     ping/pong, subscribe messages and presence, routingStatus and
//     activity events;
//   - an unauthenticated control API under /_fake/ for tests and demos
//     that drive the fake from another process. It has no authentication
//     because the fake is meant for loopback only; never expose it on a
//     network.
//
// Behaviour follows CLOUD-APIS.md section 5: the ten system definitions
// with their fixed ids plus secondary ones; systemPresence in title case
// ("On Queue") in REST answers and in upper snake case ("ON_QUEUE") in
// events; On Queue moving the routing status to IDLE and leaving it to
// OFF_QUEUE; at most 50 ids per bulk presence request and 100 per bulk
// user request; 20 channels per client (a 21st replaces the oldest one
// without a socket, else the oldest), 1,000 topics per channel, one socket
// per channel (a second disconnects the first), channels that expire after
// 24 hours unless resubscribed; 300 requests per minute per token; errors
// in the platform's ErrorBody shape with a message that says what was
// wrong; bodies of at most 512,000 bytes.
//
// Where the documentation leaves room, the fake chooses:
//
//   - Request bodies must be application/json and may carry only the
//     properties of their model; anything else is 400 (unknown property)
//     or 415, so a misspelt field fails here rather than being ignored in
//     production.
//   - Only PURECLOUD presence exists. PATCH records every attempt that
//     passed authentication and the rate limit (Patches), and every
//     accepted PATCH emits events and sets modifiedDate, even when the
//     definition did not change.
//   - User search implements type EXACT on email (case-insensitive), id
//     and name, ANDing criteria; other documented types are refused with a
//     400 that says the fake lacks them. "results" is left out when
//     nothing matched. Bulk user and presence requests take id=a&id=b or
//     id=a,b; unknown ids are left out. GET /api/v2/users pages (default
//     25) even with id=.
//   - Topics other than v2.users.{id}.presence, .routingStatus and
//     .activity of a known user are answered state "Rejected" with a
//     rejectionReason; the request still succeeds. Combined topics
//     ("v2.users.{id}?presence&routingStatus") are rejected. Going over
//     1,000 topics fails the whole request with no change. A subscribe
//     message on the socket is all or nothing, since its reply has no
//     per-topic states.
//   - Events reach only channels with a connected socket; nothing is
//     buffered for a channel while it has none.
//   - The rate limit is a sliding minute on Options.Now per access token,
//     counting admitted /api/v2 requests; refused requests do not count,
//     so waiting Retry-After is enough. Throttle hits the next requests
//     before authentication.
//   - A socket is closed with 1000 and a reason when its channel expires
//     or is replaced, or when another socket takes the channel; with 1001
//     SocketClosingDelay after v2.system.socket_closing; without a close
//     frame by DropSockets. The socket endpoint needs no token: the
//     channel id is the credential.
//
// Time-driven behaviour (token and channel expiry, the rate window, every
// reported date) runs on Options.Now so tests can move a fake clock; call
// Sweep after moving it to close what expired. Heartbeats and the
// socket_closing delay run on real time.
package fakegenesys
