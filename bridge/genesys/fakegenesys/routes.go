package fakegenesys

import (
	"net/http"
	"strings"
)

// apiRoute is a matched /api/v2 endpoint. op names it in Stats.
type apiRoute struct {
	op     string
	handle func(s *Server, c *call) *apiError
}

type methodRoute struct {
	method string
	apiRoute
}

// Operation names as they appear in Stats.Requests.
const (
	OpToken                     = "token"
	OpDefinitionsList           = "presence.definitions.list"
	OpDefinitionsGet            = "presence.definitions.get"
	OpDeprecatedDefinitionsList = "presencedefinitions.list"
	OpDeprecatedDefinitionsGet  = "presencedefinitions.get"
	OpUsersSearch               = "users.search"
	OpUsersList                 = "users.list"
	OpUsersGet                  = "users.get"
	OpPresenceGet               = "presence.get"
	OpPresencePatch             = "presence.patch"
	OpPresenceBulk              = "presence.bulk"
	OpRoutingStatusGet          = "routingstatus.get"
	OpChannelsCreate            = "channels.create"
	OpChannelsList              = "channels.list"
	OpChannelsHead              = "channels.head"
	OpSubscriptionsGet          = "subscriptions.get"
	OpSubscriptionsReplace      = "subscriptions.replace"
	OpSubscriptionsAdd          = "subscriptions.add"
	OpSubscriptionsDelete       = "subscriptions.delete"
	OpSocketConnect             = "socket.connect"
	OpUnknown                   = "unknown"
)

// route matches a path below /api/v2. Unlike Graph, the platform API
// matches path segments case-sensitively.
func route(method, path string) (apiRoute, *apiError) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	for _, s := range seg {
		if s == "" {
			return apiRoute{op: OpUnknown}, notFound("No resource at %s (empty path segment).", path)
		}
	}
	is := func(want ...string) bool {
		if len(seg) != len(want) {
			return false
		}
		for i, w := range want {
			if w != "*" && seg[i] != w {
				return false
			}
		}
		return true
	}
	// byMethod picks the handler for method among the ones the path has;
	// a refused method is counted under the path's first operation.
	byMethod := func(ops ...methodRoute) (apiRoute, *apiError) {
		for _, m := range ops {
			if m.method == method {
				return m.apiRoute, nil
			}
		}
		return apiRoute{op: ops[0].op}, errorf(http.StatusMethodNotAllowed, "method.not.allowed",
			"HTTP method %s is not supported for /api/v2%s.", method, path)
	}
	get := func(op string, h func(*Server, *call) *apiError) methodRoute {
		return methodRoute{http.MethodGet, apiRoute{op, h}}
	}

	switch {
	case is("presence", "definitions"):
		return byMethod(get(OpDefinitionsList, (*Server).listDefinitions))
	case is("presence", "definitions", "*"):
		id := seg[2]
		return byMethod(get(OpDefinitionsGet, func(s *Server, c *call) *apiError {
			return s.getDefinition(c, id, "/api/v2/presence/definitions/")
		}))
	case is("presencedefinitions"):
		return byMethod(get(OpDeprecatedDefinitionsList, (*Server).listDefinitionsDeprecated))
	case is("presencedefinitions", "*"):
		id := seg[1]
		return byMethod(get(OpDeprecatedDefinitionsGet, func(s *Server, c *call) *apiError {
			return s.getDefinition(c, id, "/api/v2/presencedefinitions/")
		}))

	case is("users", "search"):
		return byMethod(methodRoute{http.MethodPost, apiRoute{OpUsersSearch, (*Server).searchUsers}})
	case is("users"):
		return byMethod(get(OpUsersList, (*Server).listUsers))
	case is("users", "presences", "purecloud", "bulk"):
		return byMethod(get(OpPresenceBulk, (*Server).bulkPresence))
	case is("users", "*"):
		id := seg[1]
		return byMethod(get(OpUsersGet, func(s *Server, c *call) *apiError { return s.getUser(c, id) }))
	case is("users", "*", "presences", "*"):
		id, source := seg[1], seg[3]
		check := func(h func(*Server, *call, string) *apiError) func(*Server, *call) *apiError {
			return func(s *Server, c *call) *apiError {
				if source != "purecloud" {
					return notFound("Presence source %q is not served by fakegenesys; only purecloud is.", source)
				}
				return h(s, c, id)
			}
		}
		return byMethod(
			methodRoute{http.MethodGet, apiRoute{OpPresenceGet, check((*Server).getPresence)}},
			methodRoute{http.MethodPatch, apiRoute{OpPresencePatch, check((*Server).patchPresence)}},
		)
	case is("users", "*", "routingstatus"):
		id := seg[1]
		return byMethod(get(OpRoutingStatusGet, func(s *Server, c *call) *apiError { return s.getRoutingStatus(c, id) }))

	case is("notifications", "channels"):
		return byMethod(
			methodRoute{http.MethodPost, apiRoute{OpChannelsCreate, (*Server).createChannel}},
			methodRoute{http.MethodGet, apiRoute{OpChannelsList, (*Server).listChannels}},
		)
	case is("notifications", "channels", "*"):
		id := seg[2]
		return byMethod(
			methodRoute{http.MethodHead, apiRoute{OpChannelsHead, func(s *Server, c *call) *apiError { return s.headChannel(c, id) }}},
		)
	case is("notifications", "channels", "*", "subscriptions"):
		id := seg[2]
		return byMethod(
			methodRoute{http.MethodGet, apiRoute{OpSubscriptionsGet, func(s *Server, c *call) *apiError { return s.getSubscriptions(c, id) }}},
			methodRoute{http.MethodPut, apiRoute{OpSubscriptionsReplace, func(s *Server, c *call) *apiError { return s.putSubscriptions(c, id, true) }}},
			methodRoute{http.MethodPost, apiRoute{OpSubscriptionsAdd, func(s *Server, c *call) *apiError { return s.putSubscriptions(c, id, false) }}},
			methodRoute{http.MethodDelete, apiRoute{OpSubscriptionsDelete, func(s *Server, c *call) *apiError { return s.deleteSubscriptions(c, id) }}},
		)
	}
	return apiRoute{op: OpUnknown}, notFound("fakegenesys serves no resource at /api/v2%s.", path)
}
