package sip

import (
	"strconv"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// A SUBSCRIBE over UDP may arrive again if our 200 was lost, and must then
// get the same 200 rather than a second subscription (RFC 3261 17.2.2).
// sipgo absorbs retransmissions by keeping each server transaction, with
// its parsed request and response, for Timer J (32 s): at a reboot storm of
// 3,000 SUBSCRIBE/s that is 100,000 transactions and 600 MB of heap, which
// the Go heap then keeps fragmented long after. blfgw ends the transaction
// as soon as it has answered and remembers only what the 200 said.

// answer is what a 200 to a SUBSCRIBE carried beyond the request's own
// headers.
type answer struct {
	toTag   string // our tag, added to a To that had none
	entity  string // Contact user
	expires int64
	list    bool // a resource list: Require: eventlist
}

// answered holds the 200s of the last one to two Timer J periods, in two
// generations instead of a timer per entry.
type answered struct {
	mu        sync.Mutex
	cur, prev map[string]answer
	rotated   time.Time
}

func newAnswered() *answered {
	return &answered{cur: map[string]answer{}}
}

// answerKey names the request's server transaction (RFC 3261 17.2.3; the
// Call-ID, From tag and CSeq also cover branches that lack the magic
// cookie). ok is false when the request is not over UDP.
func answerKey(req *gosip.Request) (string, bool) {
	if req.Transport() != "UDP" {
		return "", false
	}
	via, from, cid, cseq := req.Via(), req.From(), req.CallID(), req.CSeq()
	if via == nil || from == nil || cid == nil || cseq == nil {
		return "", false
	}
	branch, _ := via.Params.Get("branch")
	tag, _ := from.Params.Get("tag")
	return cid.Value() + "|" + tag + "|" + strconv.FormatUint(uint64(cseq.SeqNo), 10) + "|" + branch + "|" + via.Host + ":" + strconv.Itoa(via.Port), true
}

func (a *answered) rotateLocked(now time.Time) {
	switch d := now.Sub(a.rotated); {
	case d >= 2*gosip.Timer_J:
		a.cur, a.prev, a.rotated = map[string]answer{}, nil, now
	case d >= gosip.Timer_J:
		a.cur, a.prev, a.rotated = map[string]answer{}, a.cur, now
	}
}

func (a *answered) put(key string, ans answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rotateLocked(time.Now())
	a.cur[key] = ans
}

func (a *answered) get(key string) (answer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rotateLocked(time.Now())
	if ans, ok := a.cur[key]; ok {
		return ans, true
	}
	ans, ok := a.prev[key]
	return ans, ok
}

// sweep drops the old generation on time when no SUBSCRIBE comes to do it.
func (a *answered) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rotateLocked(now)
}

func (a *answered) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.cur) + len(a.prev)
}

// okResponse is the 200 to a SUBSCRIBE, first or again.
func (s *Server) okResponse(req *gosip.Request, ans answer) *gosip.Response {
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	if to := res.To(); to != nil && ans.toTag != "" {
		to.Params.Remove("tag")
		to.Params.Add("tag", ans.toTag)
	}
	res.AppendHeader(&gosip.ContactHeader{Address: s.contact(req.Transport(), ans.entity)})
	res.AppendHeader(gosip.NewHeader("Expires", strconv.FormatInt(ans.expires, 10)))
	if ans.list {
		res.AppendHeader(gosip.NewHeader("Require", "eventlist"))
	}
	return res
}

// respondOK sends the 200 and remembers it for a retransmission.
func (s *Server) respondOK(req *gosip.Request, tx gosip.ServerTransaction, ans answer) error {
	if key, ok := answerKey(req); ok {
		s.answered.put(key, ans)
	}
	return tx.Respond(s.okResponse(req, ans))
}
