package sip

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/blfgw/blfgw/dialog"
	"github.com/blfgw/blfgw/presence"
)

// CallRecord is an answered call as the store keeps it: enough to light
// the lamps again after a restart and to probe both phones.
type CallRecord struct {
	CallID, FromTag string
	Data            []byte // the call, JSON; only this package reads it
	UpdatedAt       time.Time
}

// CallStore keeps answered calls across restarts.
type CallStore interface {
	PutCall(ctx context.Context, r CallRecord) error
	DeleteCall(ctx context.Context, callID, fromTag string) error
	Calls(ctx context.Context) ([]CallRecord, error)
}

// pdialog is an answered call the proxy carries: who is in it, how to
// reach each phone inside the dialog, and when it was last heard of.
type pdialog struct {
	CallID   string          `json:"call_id"`
	FromTag  string          `json:"from_tag"`
	ToTag    string          `json:"to_tag"`
	Caller   string          `json:"caller,omitempty"`
	Callee   string          `json:"callee,omitempty"`
	From     string          `json:"from"` // the From header, tag included
	To       string          `json:"to"`   // the To header of the 2xx, tag included
	FromP    presence.Party  `json:"from_party"`
	ToP      presence.Party  `json:"to_party"`
	Asserted *presence.Party `json:"asserted,omitempty"`
	// Each side's remote target (its Contact), where we send it, how, and
	// the highest CSeq it has sent, so a probe does not disturb it.
	CallerTarget string        `json:"caller_target"`
	CallerDest   string        `json:"caller_dest"`
	CallerTp     string        `json:"caller_tp"`
	CallerCSeq   uint32        `json:"caller_cseq"`
	CalleeTarget string        `json:"callee_target"`
	CalleeDest   string        `json:"callee_dest"`
	CalleeTp     string        `json:"callee_tp"`
	CalleeCSeq   uint32        `json:"callee_cseq"`
	Answered     time.Time     `json:"answered"`
	Session      time.Duration `json:"session,omitempty"` // RFC 4028 Session-Expires, if negotiated
	Refreshed    time.Time     `json:"refreshed"`

	probing bool
	probed  time.Time
}

type callOp struct {
	put *CallRecord
	del [2]string
}

// known reports whether an in-dialog request belongs to a call we carry.
func (p *proxy) known(callID, fromTag, toTag string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ringing[callKey(callID, fromTag)]; ok {
		return true
	}
	if _, ok := p.ringing[callKey(callID, toTag)]; ok {
		return true
	}
	if _, ok := p.dialogs[callKey(callID, fromTag)]; ok {
		return true
	}
	_, ok := p.dialogs[callKey(callID, toTag)]
	return ok
}

// answered records a call its first 2xx answered.
func (p *proxy) answered(req *gosip.Request, res *gosip.Response, f *fork, r relay) {
	now := time.Now()
	d := &pdialog{
		CallID:     req.CallID().Value(),
		FromTag:    tagOf(req.From()),
		ToTag:      tagOf(res.To()),
		Caller:     r.caller,
		Callee:     f.t.callee,
		From:       req.From().Value(),
		To:         res.To().Value(),
		FromP:      partyOf(req.From().Address, req.From().DisplayName),
		ToP:        partyOf(res.To().Address, res.To().DisplayName),
		Asserted:   asserted(req),
		CallerDest: req.Source(), CallerTp: transportName(req.Transport()),
		CalleeDest: f.t.dest, CalleeTp: f.t.transport,
		CallerCSeq: req.CSeq().SeqNo,
		Answered:   now, Refreshed: now,
	}
	if c := req.Contact(); c != nil {
		d.CallerTarget = c.Address.String()
	}
	if c := res.Contact(); c != nil {
		d.CalleeTarget = c.Address.String()
	}
	if se := header(res, "Session-Expires", "x"); se != "" {
		v, _, _ := strings.Cut(se, ";")
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			d.Session = time.Duration(n) * time.Second
		}
	}
	p.mu.Lock()
	p.dialogs[callKey(d.CallID, d.FromTag)] = d
	p.mu.Unlock()
	p.save(d)
}

// touch follows an in-dialog request of a call we carry: a BYE ends it, a
// re-INVITE or UPDATE refreshes its session timer and may change a hold.
func (p *proxy) touch(callID, fromTag, toTag string, req *gosip.Request) {
	p.mu.Lock()
	d, ok := p.dialogs[callKey(callID, fromTag)]
	fromCaller := ok
	if !ok {
		d, ok = p.dialogs[callKey(callID, toTag)]
	}
	if !ok {
		p.mu.Unlock()
		return
	}
	if req.Method == gosip.BYE {
		delete(p.dialogs, callKey(d.CallID, d.FromTag))
		p.mu.Unlock()
		p.unsave(d)
		return
	}
	d.Refreshed = time.Now()
	if fromCaller {
		d.CallerCSeq = max(d.CallerCSeq, req.CSeq().SeqNo)
	} else {
		d.CalleeCSeq = max(d.CalleeCSeq, req.CSeq().SeqNo)
	}
	p.mu.Unlock()
	p.save(d)
}

func (p *proxy) save(d *pdialog) {
	if p.opt.Store == nil {
		return
	}
	p.mu.Lock()
	caller, callee := p.calls().Held(d.CallID, d.FromTag)
	data, err := json.Marshal(struct {
		*pdialog
		CallerHeld bool `json:"caller_held"`
		CalleeHeld bool `json:"callee_held"`
	}{d, caller, callee})
	p.mu.Unlock()
	if err != nil {
		return
	}
	p.queue(callOp{put: &CallRecord{CallID: d.CallID, FromTag: d.FromTag, Data: data, UpdatedAt: time.Now()}})
}

func (p *proxy) unsave(d *pdialog) {
	if p.opt.Store == nil {
		return
	}
	p.queue(callOp{del: [2]string{d.CallID, d.FromTag}})
}

func (p *proxy) queue(op callOp) {
	if p.ctx.Err() != nil {
		p.apply(p.ctx, op) // shutting down: the writer may have drained already
		return
	}
	select {
	case p.saves <- op:
	default:
		p.apply(context.Background(), op) // the writer is behind: wait for it here
	}
}

func (p *proxy) apply(ctx context.Context, op callOp) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if op.put != nil {
		err = p.opt.Store.PutCall(ctx, *op.put)
	} else {
		err = p.opt.Store.DeleteCall(ctx, op.del[0], op.del[1])
	}
	if err != nil {
		p.s.log.Error("store call state", "err", err)
	}
}

// restore lights the lamps of the calls that were up when we stopped.
func (p *proxy) restore(ctx context.Context) (int, error) {
	if p.opt.Store == nil {
		return 0, nil
	}
	recs, err := p.opt.Store.Calls(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		var v struct {
			pdialog
			CallerHeld bool `json:"caller_held"`
			CalleeHeld bool `json:"callee_held"`
		}
		if err := json.Unmarshal(r.Data, &v); err != nil || v.CallID == "" {
			continue
		}
		d := v.pdialog
		d.Refreshed = time.Now()
		p.mu.Lock()
		p.dialogs[callKey(d.CallID, d.FromTag)] = &d
		p.mu.Unlock()
		p.calls().Restore(dialog.Answered{
			CallID: d.CallID, FromTag: d.FromTag, ToTag: d.ToTag,
			Caller: d.Caller, Callee: d.Callee, From: d.FromP, To: d.ToP, Asserted: d.Asserted,
			CallerHeld: v.CallerHeld, CalleeHeld: v.CalleeHeld, At: d.Answered,
		})
		n++
	}
	return n, nil
}

// run writes call state, ends calls that outlived max_call or their
// session timer, and probes the phones of every answered call.
func (p *proxy) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.bg.Wait()
			for {
				select {
				case op := <-p.saves:
					p.apply(ctx, op)
				default:
					return
				}
			}
		case op := <-p.saves:
			p.apply(ctx, op)
		case now := <-tick.C:
			p.reap(now)
		}
	}
}

func (p *proxy) reap(now time.Time) {
	for _, id := range p.calls().Reap(p.opt.MaxCall) {
		p.forget(id)
	}
	var gone []*pdialog
	var probe []*pdialog
	p.mu.Lock()
	for _, d := range p.dialogs {
		switch {
		case now.Sub(d.Answered) > p.opt.MaxCall:
			gone = append(gone, d)
		case d.Session > 0 && now.Sub(d.Refreshed) > d.Session+32*time.Second:
			gone = append(gone, d)
		case p.opt.Keepalive > 0 && !d.probing && now.Sub(later(d.probed, d.Answered)) >= p.opt.Keepalive:
			d.probing, d.probed = true, now
			probe = append(probe, d)
		}
	}
	p.mu.Unlock()
	for _, d := range gone {
		p.s.log.Info("call ended without a BYE", "call_id", d.CallID, "caller", d.Caller, "callee", d.Callee)
		p.calls().End(d.CallID)
		p.forget(d.CallID)
	}
	for _, d := range probe {
		select {
		case p.probes <- struct{}{}:
		default:
			p.mu.Lock()
			d.probing = false
			p.mu.Unlock()
			continue
		}
		p.bg.Go(func() {
			defer func() { <-p.probes }()
			alive := p.probe(d, true) && p.probe(d, false)
			p.mu.Lock()
			d.probing = false
			p.mu.Unlock()
			if !alive {
				p.s.log.Info("call gone: a phone no longer knows it", "call_id", d.CallID, "caller", d.Caller, "callee", d.Callee)
				p.calls().End(d.CallID)
				p.forget(d.CallID)
			}
		})
	}
}

// forget drops every answered call with a Call-ID.
func (p *proxy) forget(callID string) {
	var ds []*pdialog
	p.mu.Lock()
	for k, d := range p.dialogs {
		if d.CallID == callID {
			ds = append(ds, d)
			delete(p.dialogs, k)
		}
	}
	p.mu.Unlock()
	for _, d := range ds {
		p.unsave(d)
	}
}

// probe sends an in-dialog OPTIONS to one phone of a call, as if from the
// other, and reports whether the phone still has the call: only 481 (no
// such dialog), 408 or no answer at all say it has not. The CSeq is the
// highest the other side sent, which a phone accepts without moving its
// own count (RFC 3261 12.2.2 rejects only lower ones).
func (p *proxy) probe(d *pdialog, toCallee bool) bool {
	target, dest, tp := d.CallerTarget, d.CallerDest, d.CallerTp
	from, to, cseq := d.To, d.From, d.CalleeCSeq
	if toCallee {
		target, dest, tp = d.CalleeTarget, d.CalleeDest, d.CalleeTp
		from, to, cseq = d.From, d.To, d.CallerCSeq
	}
	u, ok := uriOf(target)
	if !ok || dest == "" {
		return true
	}
	if cseq == 0 {
		cseq = 1
	}
	req := gosip.NewRequest(gosip.OPTIONS, u)
	req.AppendHeader(p.s.newVia(tp, "ka"))
	req.AppendHeader(gosip.NewHeader("From", from))
	req.AppendHeader(gosip.NewHeader("To", to))
	req.AppendHeader(gosip.NewHeader("Call-ID", d.CallID))
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: cseq, MethodName: gosip.OPTIONS})
	req.AppendHeader(gosip.NewHeader("Max-Forwards", "70"))
	req.AppendHeader(gosip.NewHeader("Content-Length", "0"))
	req.SetTransport(tp)
	req.SetDestination(dest)
	if tp == "UDP" {
		if la, ok := p.s.udpLaddr(dest); ok {
			req.Laddr = la
		}
	}
	ctx, cancel := context.WithTimeout(p.ctx, 40*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req, keep)
	if err != nil {
		return p.ctx.Err() != nil // shutting down is no verdict
	}
	return res.StatusCode != 481 && res.StatusCode != 408
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
