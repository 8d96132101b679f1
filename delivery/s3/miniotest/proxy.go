package miniotest

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultKind is what the fault proxy does with a request its fault applies to.
type FaultKind int

const (
	// FaultNone passes requests through unchanged.
	FaultNone FaultKind = iota
	// FaultError answers with an S3 XML error (Fault.Status, Fault.Code, Fault.Message) without forwarding.
	FaultError
	// FaultDrop closes the connection without answering.
	FaultDrop
	// FaultDelay reads the request body into memory, waits Fault.Delay (or until the client gives up),
	// then passes the request through.
	FaultDelay
	// FaultHang reads the request body and never answers: the request ends only when the client gives
	// up (or the proxy is closed), as with an S3 that accepts connections and then stalls.
	FaultHang
)

// Fault is the fault proxy's current behaviour.
type Fault struct {
	Kind    FaultKind
	Status  int
	Code    string
	Message string
	Delay   time.Duration
	// Method limits the fault to requests with this HTTP method (for example "DELETE"); others pass
	// through. Empty means every request.
	Method string
}

// FaultProxy is a reverse proxy in front of an S3 endpoint whose behaviour tests switch at run time.
// It keeps the Host header, so SigV4 signatures made for the proxy's URL stay valid.
type FaultProxy struct {
	// URL is the proxy's base URL; use it as the S3 endpoint (path-style).
	URL string

	mu       sync.Mutex
	fault    Fault
	requests atomic.Int64
	faulted  atomic.Int64
	hanging  atomic.Int64
	closed   chan struct{}
	proxy    *httputil.ReverseProxy
}

// StartFaultProxy starts a pass-through proxy to target (for example Server.Endpoint); it is closed in
// tb.Cleanup.
func StartFaultProxy(tb testing.TB, target string) *FaultProxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("miniotest: fault proxy target %q: %v", target, err)
	}
	p := &FaultProxy{}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeS3Error(w, http.StatusBadGateway, "BadGateway", "fault proxy: "+err.Error())
		},
	}
	p.closed = make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(p.serveHTTP))
	// Hanging requests end first: Close waits for every handler.
	tb.Cleanup(func() { close(p.closed); hs.Close() })
	p.URL = hs.URL
	return p
}

// Set replaces the proxy's behaviour; it applies to requests that arrive afterwards.
func (p *FaultProxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// Pass makes the proxy pass every request through.
func (p *FaultProxy) Pass() { p.Set(Fault{}) }

// Fail makes the proxy answer every request with an S3 XML error.
func (p *FaultProxy) Fail(status int, code, message string) {
	p.Set(Fault{Kind: FaultError, Status: status, Code: code, Message: message})
}

// SlowDown makes the proxy answer every request with 503 SlowDown, as S3 does when throttling.
func (p *FaultProxy) SlowDown() {
	p.Fail(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
}

// Drop makes the proxy close every connection without answering.
func (p *FaultProxy) Drop() { p.Set(Fault{Kind: FaultDrop}) }

// Delay makes the proxy hold every request for d before passing it through.
func (p *FaultProxy) Delay(d time.Duration) { p.Set(Fault{Kind: FaultDelay, Delay: d}) }

// Hang makes the proxy accept every request and never answer it.
func (p *FaultProxy) Hang() { p.Set(Fault{Kind: FaultHang}) }

// Hanging returns how many requests the proxy holds unanswered right now.
func (p *FaultProxy) Hanging() int64 { return p.hanging.Load() }

// Requests returns how many requests the proxy has received.
func (p *FaultProxy) Requests() int64 { return p.requests.Load() }

// Faulted returns how many requests the proxy has answered with an error, dropped or delayed.
func (p *FaultProxy) Faulted() int64 { return p.faulted.Load() }

func (p *FaultProxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	p.mu.Lock()
	f := p.fault
	p.mu.Unlock()
	if f.Kind == FaultNone || (f.Method != "" && f.Method != r.Method) {
		p.proxy.ServeHTTP(w, r)
		return
	}
	p.faulted.Add(1)
	switch f.Kind {
	case FaultError:
		writeS3Error(w, f.Status, f.Code, f.Message)
	case FaultDrop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			writeS3Error(w, http.StatusInternalServerError, "InternalError", "fault proxy: hijack: "+err.Error())
			return
		}
		_ = conn.Close()
	case FaultDelay:
		// The server notices a client hanging up only once the request body is read; without this a
		// client that gives up would leave the handler waiting out the whole delay.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-time.After(f.Delay):
			p.proxy.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	case FaultHang:
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		p.hanging.Add(1)
		defer p.hanging.Add(-1)
		select {
		case <-r.Context().Done():
		case <-p.closed:
		}
	}
}

func writeS3Error(w http.ResponseWriter, status int, code, message string) {
	body := struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		RequestID string   `xml:"RequestId"`
		HostID    string   `xml:"HostId"`
	}{Code: code, Message: message, RequestID: requestID(), HostID: "s3relay-fault-proxy"}
	writeXML(w, status, body.RequestID, body)
}
