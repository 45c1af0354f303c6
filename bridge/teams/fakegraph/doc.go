// Package fakegraph is a local stand-in for Microsoft Graph presence and for
// the Entra ID (Azure AD) token endpoint, strict enough that code which passes
// against it has met the rules the real services enforce.
//
// It serves, from one http.Handler:
//
//   - the Entra endpoints MSAL and azidentity use: the tenant's OpenID
//     configuration, the user realm lookup, and the v2.0 token endpoint with
//     the client_credentials, password (ROPC) and refresh_token grants;
//   - Graph v1.0 under /v1.0: users, presence (get, batch get, setPresence,
//     clearPresence, setUserPreferredPresence, clearUserPreferredPresence,
//     setStatusMessage) and presence subscriptions with the validation
//     handshake, change notifications and lifecycle events;
//   - an unauthenticated control API under /_fake/ for tests and demos that
//     drive the fake from another process. It has no authentication because
//     the fake is meant for loopback only; never expose it on a network.
//
// Behaviour follows CLOUD-APIS.md sections 1 to 3: the five setPresence
// pairs, PT5M..PT4H durations, sessionId equal to the caller's client id,
// aggregation of sessions (user-preferred > DoNotDisturb > Busy > Available >
// Away, Available fading after 5 and 10 minutes), delegated-only presence
// subscriptions of at most 650 ids, one per application per user, lifetimes
// raised to 45 and capped at 60 minutes, gzip request bodies, the Graph error
// envelope with a message always present, and 1500 presence requests per 30
// seconds per application.
//
// Where the documentation leaves room, the fake chooses:
//
//   - A second presence subscription by the same application for the same
//     user is 409 ExtensionError "A subscripton already exists. It must be
//     deleted before a another can be made", the answer users report from
//     Graph; a duplicate (changeType, resource) is 409 too, with "already
//     exists for the requested combination". Both apply per application.
//   - The rate limit is a sliding window over the last RateWindow on
//     Options.Now, per client id, counting presence reads and writes
//     (presence GETs, getPresencesByUserId and the set/clear actions) that
//     were admitted; refused requests do not count, so waiting Retry-After
//     is enough.
//   - Injected faults (Throttle, Unavailable) hit the next Graph requests
//     before authentication.
//   - Both notificationUrl and lifecycleNotificationUrl are validated, twice
//     when they are the same URL, as Graph does.
//   - An expirationDateTime in the past is 400, not raised to 45 minutes.
//   - An unrefreshed Available app session shows Available/AvailableInactive
//     after FadeAfter and Away/Away after twice that (the documented
//     example). The Teams client session of SetClient never fades.
//   - Delegated tokens may set only the signed-in user's own presence;
//     app-only tokens anyone's. Both may read anyone's.
//   - Rich notifications (includeResourceData) are refused with 501.
//
// Time-driven behaviour (token, session and subscription expiry, the
// Available fade, the rate window) runs on Options.Now so tests can move a
// fake clock; call Sweep after moving it to publish the changes it causes.
// Notification delivery and its retries run on real time.
package fakegraph
