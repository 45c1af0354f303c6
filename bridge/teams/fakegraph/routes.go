package fakegraph

import (
	"net/http"
	"strings"
)

// graphRoute is a matched Graph v1.0 endpoint. op names it in Stats.
type graphRoute struct {
	op       string
	presence bool // counts against the presence rate limit
	handle   func(s *Server, c *call) *apiError
}

// Operation names as they appear in Stats.Requests.
const (
	OpToken                      = "token"
	OpOpenIDConfiguration        = "openid-configuration"
	OpUserRealm                  = "userrealm"
	OpUsersGet                   = "users.get"
	OpPresenceGet                = "presence.get"
	OpGetPresencesByUserID       = "getPresencesByUserId"
	OpSetPresence                = "setPresence"
	OpClearPresence              = "clearPresence"
	OpSetUserPreferredPresence   = "setUserPreferredPresence"
	OpClearUserPreferredPresence = "clearUserPreferredPresence"
	OpSetStatusMessage           = "setStatusMessage"
	OpSubscriptionsCreate        = "subscriptions.create"
	OpSubscriptionsList          = "subscriptions.list"
	OpSubscriptionsGet           = "subscriptions.get"
	OpSubscriptionsUpdate        = "subscriptions.update"
	OpSubscriptionsDelete        = "subscriptions.delete"
	OpSubscriptionsReauthorize   = "subscriptions.reauthorize"
	OpUnknown                    = "unknown"
)

// route matches a path below /v1.0. Graph matches segment names without
// regard to case, so this does too.
func route(method, path string) (graphRoute, *apiError) {
	p := strings.Trim(path, "/")
	var seg []string
	if p != "" {
		seg = strings.Split(p, "/")
	}
	for _, s := range seg {
		if s == "" {
			return graphRoute{op: OpUnknown}, badRequest("Invalid request URL %q: empty segment.", path)
		}
	}
	lit := func(i int, want string) bool { return i < len(seg) && strings.EqualFold(seg[i], want) }
	one := func(op string, want string, presence bool, h func(*Server, *call) *apiError) (graphRoute, *apiError) {
		rt := graphRoute{op: op, presence: presence, handle: h}
		if method != want {
			return rt, methodNotAllowed(method)
		}
		return rt, nil
	}

	switch {
	case len(seg) == 0:
		return graphRoute{op: OpUnknown}, badRequest("Invalid request URL: no resource segment after /v1.0.")

	case lit(0, "users") && len(seg) >= 2 || lit(0, "me"):
		who, rest := "", seg[1:]
		if lit(0, "users") {
			who, rest = seg[1], seg[2:]
		}
		switch {
		case len(rest) == 0:
			return one(OpUsersGet, http.MethodGet, false, func(s *Server, c *call) *apiError { return s.getUser(c, who) })
		case len(rest) == 1 && strings.EqualFold(rest[0], "presence"):
			return one(OpPresenceGet, http.MethodGet, true, func(s *Server, c *call) *apiError { return s.getPresence(c, who, false) })
		case len(rest) == 2 && strings.EqualFold(rest[0], "presence"):
			action := rest[1]
			for _, a := range []struct {
				op string
				h  func(*Server, *call, string) *apiError
			}{
				{OpSetPresence, (*Server).setPresence},
				{OpClearPresence, (*Server).clearPresence},
				{OpSetUserPreferredPresence, (*Server).setUserPreferredPresence},
				{OpClearUserPreferredPresence, (*Server).clearUserPreferredPresence},
				{OpSetStatusMessage, (*Server).setStatusMessage},
			} {
				if strings.EqualFold(action, a.op) {
					h := a.h
					return one(a.op, http.MethodPost, true, func(s *Server, c *call) *apiError { return h(s, c, who) })
				}
			}
			return graphRoute{op: OpUnknown}, segmentNotFound(action)
		}
		return graphRoute{op: OpUnknown}, segmentNotFound(rest[len(rest)-1])

	case lit(0, "communications"):
		switch {
		case len(seg) == 2 && lit(1, "getPresencesByUserId"):
			return one(OpGetPresencesByUserID, http.MethodPost, true, (*Server).getPresencesByUserID)
		case len(seg) == 3 && lit(1, "presences"):
			id := seg[2]
			return one(OpPresenceGet, http.MethodGet, true, func(s *Server, c *call) *apiError { return s.getPresence(c, id, true) })
		}
		return graphRoute{op: OpUnknown}, segmentNotFound(seg[len(seg)-1])

	case lit(0, "subscriptions"):
		switch len(seg) {
		case 1:
			switch method {
			case http.MethodPost:
				return graphRoute{op: OpSubscriptionsCreate, handle: (*Server).createSubscription}, nil
			case http.MethodGet:
				return graphRoute{op: OpSubscriptionsList, handle: (*Server).listSubscriptions}, nil
			}
			return graphRoute{op: OpSubscriptionsCreate}, methodNotAllowed(method)
		case 2:
			id := seg[1]
			switch method {
			case http.MethodGet:
				return graphRoute{op: OpSubscriptionsGet, handle: func(s *Server, c *call) *apiError { return s.getSubscription(c, id) }}, nil
			case http.MethodPatch:
				return graphRoute{op: OpSubscriptionsUpdate, handle: func(s *Server, c *call) *apiError { return s.updateSubscription(c, id) }}, nil
			case http.MethodDelete:
				return graphRoute{op: OpSubscriptionsDelete, handle: func(s *Server, c *call) *apiError { return s.deleteSubscription(c, id) }}, nil
			}
			return graphRoute{op: OpSubscriptionsGet}, methodNotAllowed(method)
		case 3:
			if lit(2, "reauthorize") {
				id := seg[1]
				return one(OpSubscriptionsReauthorize, http.MethodPost, false, func(s *Server, c *call) *apiError { return s.reauthorizeSubscription(c, id) })
			}
		}
		return graphRoute{op: OpUnknown}, segmentNotFound(seg[len(seg)-1])
	}
	return graphRoute{op: OpUnknown}, segmentNotFound(seg[0])
}

func segmentNotFound(seg string) *apiError {
	return badRequest("Resource not found for the segment '%s'.", seg)
}

func methodNotAllowed(method string) *apiError {
	return errorf(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method %s is not allowed for the request target.", method)
}
