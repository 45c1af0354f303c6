package fakegenesys

import "encoding/json"

// The notification service's messages. Events carry systemPresence in
// upper snake case ("ON_QUEUE"), unlike REST answers; that difference is
// the point of keeping these shapes apart from the REST ones.

type eventMetadata struct {
	CorrelationID string `json:"CorrelationId"`
}

type event struct {
	TopicName string        `json:"topicName"`
	Version   string        `json:"version"`
	EventBody any           `json:"eventBody"`
	Metadata  eventMetadata `json:"metadata"`
}

type eventDefinition struct {
	ID             string `json:"id"`
	SystemPresence string `json:"systemPresence"`
}

type presenceEventBody struct {
	Source             string          `json:"source"`
	PresenceDefinition eventDefinition `json:"presenceDefinition"`
	Primary            bool            `json:"primary"`
	Message            string          `json:"message"`
	ModifiedDate       string          `json:"modifiedDate"`
}

type eventRoutingStatus struct {
	Status    string `json:"status"`
	StartTime string `json:"startTime"`
}

type routingEventBody struct {
	ID            string             `json:"id"`
	RoutingStatus eventRoutingStatus `json:"routingStatus"`
}

type activityPresence struct {
	PresenceDefinition eventDefinition `json:"presenceDefinition"`
	PresenceMessage    string          `json:"presenceMessage"`
	ModifiedDate       string          `json:"modifiedDate"`
}

type activityEventBody struct {
	ID             string             `json:"id"`
	RoutingStatus  eventRoutingStatus `json:"routingStatus"`
	Presence       activityPresence   `json:"presence"`
	OutOfOffice    map[string]bool    `json:"outOfOffice"`
	ActiveQueueIDs []string           `json:"activeQueueIds"`
}

// metadataMessage is a channel.metadata or v2.system message: heartbeat,
// pong, socket_closing. They carry no version or metadata.
type metadataMessage struct {
	TopicName string            `json:"topicName"`
	EventBody map[string]string `json:"eventBody"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the fake's own plain structs reach here.
		return []byte(`{"topicName":"channel.metadata","eventBody":{"message":"fakegenesys: encoding failed"}}`)
	}
	return b
}

var (
	heartbeatMessage = mustJSON(metadataMessage{TopicName: "channel.metadata", EventBody: map[string]string{"message": "WebSocket Heartbeat"}})
	pongMessage      = mustJSON(metadataMessage{TopicName: "channel.metadata", EventBody: map[string]string{"message": "pong"}})
	closingMessage   = mustJSON(metadataMessage{TopicName: "v2.system.socket_closing", EventBody: map[string]string{"message": "Socket closing"}})
)

func (u *user) eventDefinition() eventDefinition {
	return eventDefinition{ID: u.def.id, SystemPresence: upperSnake(u.def.system)}
}

func (s *Server) emitPresenceLocked(u *user) {
	s.publishLocked("v2.users."+u.ID+".presence", presenceEventBody{
		Source:             "PURECLOUD",
		PresenceDefinition: u.eventDefinition(),
		Primary:            u.primary,
		Message:            u.message,
		ModifiedDate:       isoTime(u.modified),
	})
}

func (s *Server) emitRoutingLocked(u *user) {
	s.publishLocked("v2.users."+u.ID+".routingStatus", routingEventBody{
		ID:            u.ID,
		RoutingStatus: eventRoutingStatus{Status: u.routing, StartTime: isoTime(u.routingStart)},
	})
}

func (s *Server) emitActivityLocked(u *user) {
	s.publishLocked("v2.users."+u.ID+".activity", activityEventBody{
		ID:             u.ID,
		RoutingStatus:  eventRoutingStatus{Status: u.routing, StartTime: isoTime(u.routingStart)},
		Presence:       activityPresence{PresenceDefinition: u.eventDefinition(), PresenceMessage: u.message, ModifiedDate: isoTime(u.modified)},
		OutOfOffice:    map[string]bool{"active": false},
		ActiveQueueIDs: []string{},
	})
}

// publishLocked sends an event to every connected socket whose channel
// subscribes to topic. Channels without a socket miss it: the service
// does not buffer for them, so a client must read current state after it
// reconnects.
func (s *Server) publishLocked(topic string, body any) {
	var b []byte
	for _, ch := range s.channels {
		if ch.sock == nil || !ch.topics[topic] {
			continue
		}
		if b == nil {
			b = mustJSON(event{TopicName: topic, Version: "2", EventBody: body, Metadata: eventMetadata{CorrelationID: newGUID()}})
		}
		if ch.sock.enqueue(outMsg{b: b}) {
			s.stats.events++
		} else {
			s.stats.eventsDropped++
		}
	}
}
