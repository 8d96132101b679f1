package s3_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/delivery/s3/miniotest"
)

func TestEndpointPolicyCheckAddr(t *testing.T) {
	const (
		allowed = iota
		always  // refused whatever the flag says
		private // refused only with DenyPrivate
	)
	tests := []struct {
		addr    string
		want    int
		ruleHas string
	}{
		{"169.254.169.254", always, "link-local address (169.254.0.0/16)"},
		{"169.254.0.1", always, "link-local"},
		{"fe80::1", always, "link-local address (fe80::/10)"},
		{"fe80::1%eth0", always, "link-local"},
		{"fd00:ec2::254", always, "cloud metadata address (AWS)"},
		{"100.100.100.200", always, "cloud metadata"},
		{"168.63.129.16", always, "Azure"},
		{"::ffff:169.254.169.254", always, "169.254.169.254 in IPv4-mapped form, a link-local address"},
		{"64:ff9b::a9fe:a9fe", always, "169.254.169.254 in NAT64 form"},
		{"::169.254.169.254", always, "IPv4-compatible form"},
		{"::ffff:0.0.0.0", always, "unspecified"},
		{"0.0.0.0", always, "unspecified address"},
		{"0.1.2.3", always, "unspecified"},
		{"::", always, "unspecified address"},
		{"224.0.0.1", always, "multicast"},
		{"ff02::1", always, "multicast"},
		{"255.255.255.255", always, "broadcast"},

		{"127.0.0.1", private, "loopback address (127.0.0.0/8)"},
		{"127.1.2.3", private, "loopback"},
		{"::1", private, "loopback address (::1/128)"},
		{"::ffff:127.0.0.1", private, "127.0.0.1 in IPv4-mapped form, a loopback address"},
		{"64:ff9b::a00:1", private, "10.0.0.1 in NAT64 form, a private address"},
		{"10.1.2.3", private, "private address (10.0.0.0/8)"},
		{"172.16.0.1", private, "private address (172.16.0.0/12)"},
		{"172.31.255.255", private, "private"},
		{"192.168.1.1", private, "private address (192.168.0.0/16)"},
		{"fc00::1", private, "unique local"},
		{"fd00::1", private, "unique local"},
		{"100.64.0.1", private, "carrier-grade NAT"},
		{"100.127.255.255", private, "carrier-grade NAT"},
		{"198.18.0.1", private, "benchmarking"},
		{"192.0.2.1", private, "documentation"},
		{"2001:db8::1", private, "documentation"},
		{"240.0.0.1", private, "reserved"},

		{"8.8.8.8", allowed, ""},
		{"172.32.0.1", allowed, ""},
		{"100.128.0.1", allowed, ""},
		{"52.216.1.1", allowed, ""},
		{"2606:4700::1111", allowed, ""},
		{"::ffff:8.8.8.8", allowed, ""},
		{"64:ff9b::808:808", allowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			for _, deny := range []bool{false, true} {
				err := s3.EndpointPolicy{DenyPrivate: deny}.CheckAddr("storage.example", a)
				wantRefused := tt.want == always || (tt.want == private && deny)
				if got := err != nil; got != wantRefused {
					t.Fatalf("DenyPrivate=%v: got refused=%v (%v), want refused=%v", deny, got, err, wantRefused)
				}
				if err == nil {
					continue
				}
				var e *s3.EndpointError
				if !errors.As(err, &e) {
					t.Fatalf("error: got %T, want *s3.EndpointError", err)
				}
				if !strings.Contains(e.Rule, tt.ruleHas) || e.Private != (tt.want == private) || e.Host != "storage.example" {
					t.Errorf("DenyPrivate=%v: got %+v, want rule with %q, private=%v", deny, e, tt.ruleHas, tt.want == private)
				}
				if !strings.Contains(err.Error(), "storage.example resolves to "+a.WithZone("").String()) {
					t.Errorf("message: got %q, want it to name the host and the address", err)
				}
			}
		})
	}
}

func TestEndpointPolicyCheckEndpoint(t *testing.T) {
	tests := []struct {
		endpoint     string
		always, deny bool // refused by the zero policy, by DenyPrivate
	}{
		{"http://169.254.169.254", true, true},
		{"http://[::ffff:169.254.169.254]:9000", true, true},
		{"https://[fd00:ec2::254]", true, true},
		{"http://0.0.0.0:9000", true, true},
		{"http://127.0.0.1:9000", false, true},
		{"http://[::1]:9000", false, true},
		{"http://10.0.0.5:9000", false, true},
		// A name is checked when connecting, once resolved.
		{"http://localhost:9000", false, false},
		{"http://minio.internal:9000", false, false},
		{"https://s3.example.com", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			if got := (s3.EndpointPolicy{}).CheckEndpoint(tt.endpoint) != nil; got != tt.always {
				t.Errorf("zero policy: got refused=%v, want %v", got, tt.always)
			}
			f := &s3.Factory{Endpoints: s3.EndpointPolicy{DenyPrivate: true}}
			err := f.CheckEndpoint(tt.endpoint)
			if got := err != nil; got != tt.deny {
				t.Errorf("DenyPrivate: got refused=%v (%v), want %v", got, err, tt.deny)
			}
			var e *s3.EndpointError
			if err != nil && (!errors.As(err, &e) || !strings.Contains(err.Error(), e.Addr.String()+" is ")) {
				t.Errorf("factory's error: got %q, want a sentence naming the address, wrapping *EndpointError", err)
			}
		})
	}
}

// countingListener is a TCP server on 127.0.0.1 that counts the connections
// it accepts and closes them: it shows whether a client connected at all.
func countingListener(tb testing.TB) (port string, accepted *atomic.Int64) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

func TestConnectionRefusesNotAllowedEndpoints(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	cfg := func(endpoint string) s3.Config {
		return s3.Config{Bucket: bucket, Region: "us-east-1", Auth: s3.AuthKeys, AccessKey: "AKIAEXAMPLE", Secret: "secret",
			Endpoint: endpoint, ForcePathStyle: true}
	}
	refused := func(t *testing.T, res s3.Result, addr, ruleHas string) string {
		t.Helper()
		if res.OK || len(res.Steps) != 2 {
			t.Fatalf("result: got %+v, want the write step to fail", res)
		}
		step := res.Steps[1]
		if step.Name != s3.StepPut || step.Code != s3.CodeEndpointNotAllowed || !strings.Contains(step.Message, addr) ||
			!strings.Contains(step.Message, ruleHas) || step.Hint == "" {
			t.Errorf("write step: got %+v, want %s naming %s and %q, with a hint", step, s3.CodeEndpointNotAllowed, addr, ruleHas)
		}
		return step.Message
	}

	t.Run("metadata and link-local addresses, whatever the port", func(t *testing.T) {
		tests := []struct{ endpoint, addr, ruleHas string }{
			{"http://169.254.169.254", "169.254.169.254", "link-local"},
			// The dialer connects to a mapped address as the IPv4 one.
			{"http://[::ffff:169.254.169.254]", "::ffff:169.254.169.254 reaches 169.254.169.254", "link-local"},
			{"http://[fd00:ec2::254]", "fd00:ec2::254", "cloud metadata"},
		}
		for _, tt := range tests {
			// The same answer for every port: nothing tells an open port
			// from a closed one, as no connection is tried.
			first := refused(t, s3.TestConnection(context.Background(), cfg(tt.endpoint)), tt.addr, tt.ruleHas)
			for _, port := range []string{":22", ":9000", ":65535"} {
				if got := refused(t, s3.TestConnection(context.Background(), cfg(tt.endpoint+port)), tt.addr, tt.ruleHas); got != first {
					t.Errorf("%s%s: got message %q, want the same as without a port: %q", tt.endpoint, port, got, first)
				}
			}
		}
	})

	t.Run("the unspecified address never reaches this server", func(t *testing.T) {
		port, accepted := countingListener(t)
		refused(t, s3.TestConnection(context.Background(), cfg("http://0.0.0.0:"+port)), "0.0.0.0", "unspecified")
		if got := accepted.Load(); got != 0 {
			t.Errorf("connections accepted: got %d, want 0", got)
		}
	})

	t.Run("loopback by name with deny-private, after resolution", func(t *testing.T) {
		port, accepted := countingListener(t)
		deny := &s3.Factory{Endpoints: s3.EndpointPolicy{DenyPrivate: true}}
		res := deny.TestConnection(context.Background(), cfg("http://localhost:"+port))
		msg := refused(t, res, "localhost resolves to", "loopback")
		if !strings.Contains(res.Steps[1].Hint, "--deny-private-endpoints") {
			t.Errorf("hint: got %q, want it to name the flag", res.Steps[1].Hint)
		}
		if got := accepted.Load(); got != 0 {
			t.Errorf("connections accepted with deny-private: got %d, want 0 (%s)", got, msg)
		}
		// Without the flag the same endpoint is dialled: the listener sees it.
		if res := (&s3.Factory{}).TestConnection(context.Background(), cfg("http://localhost:"+port)); res.Steps[len(res.Steps)-1].Code == s3.CodeEndpointNotAllowed {
			t.Errorf("without deny-private: got %+v, want a connection", res.Steps)
		}
		if accepted.Load() == 0 {
			t.Error("without deny-private: the listener saw no connection")
		}
	})
}

func TestRedirectToAnotherHostIsRefused(t *testing.T) {
	miniotest.IsolateAWSEnv(t)
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	tests := []struct{ name, location string }{
		{"to instance metadata", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"},
		{"to another port", other.URL + "/events/k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tt.location, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(redirector.Close)
			c := MustClient(t, s3.Config{Bucket: bucket, Region: "us-east-1", Auth: s3.AuthKeys, AccessKey: "AKIAEXAMPLE", Secret: "secret",
				Endpoint: redirector.URL, ForcePathStyle: true})
			for _, op := range []struct {
				name string
				call func() error
			}{
				{"put", func() error { _, err := put(c, "raw/k", "x"); return err }},
				{"delete", func() error { return c.Delete(context.Background(), "raw/k") }},
			} {
				f := s3.Classify(op.call())
				if f == nil || f.Retryable || f.Code != s3.CodeEndpointNotAllowed || !strings.Contains(f.Message, tt.location) || !strings.Contains(f.Hint, "redirects") {
					t.Errorf("%s: got %+v, want a permanent %s naming %s", op.name, f, s3.CodeEndpointNotAllowed, tt.location)
				}
			}
		})
	}
	if got := elsewhere.Load(); got != 0 {
		t.Errorf("requests that reached the other host: got %d, want 0", got)
	}
}

func TestDenyPrivateEndpointsRefusesMinIOOnLoopback(t *testing.T) {
	srv := MustMinIO(t)
	deny := &s3.Factory{Endpoints: s3.EndpointPolicy{DenyPrivate: true}}
	c, err := deny.Client(context.Background(), "dst_1", keysConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	_, err = put(c, "raw/k", "x")
	var e *s3.EndpointError
	if f := s3.Classify(err); !errors.As(err, &e) || !e.Private || f.Retryable || f.Code != s3.CodeEndpointNotAllowed || f.HTTPStatus != 0 ||
		!strings.Contains(f.Message, "127.0.0.1 is a loopback address") {
		t.Errorf("put with deny-private: got %+v (%v), want a permanent %s for the loopback address", f, err, s3.CodeEndpointNotAllowed)
	}
	if keys := srv.MustListKeys(t, bucket, ""); len(keys) != 0 {
		t.Errorf("objects written: got %q, want none", keys)
	}

	// The zero factory, as without the flag, writes to the same MinIO.
	c, err = (&s3.Factory{}).Client(context.Background(), "dst_1", keysConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(c, "raw/k", "x"); err != nil {
		t.Errorf("put without deny-private: %v", err)
	}
}

func TestDefaultAuthWithCustomEndpointIsRefused(t *testing.T) {
	// A destination stored before the rule existed: refused at run time,
	// before any credential is looked up or request made.
	miniotest.IsolateAWSEnv(t)
	port, accepted := countingListener(t)
	cfg := s3.Config{Bucket: bucket, Region: "us-east-1", Auth: s3.AuthDefault, Endpoint: "http://127.0.0.1:" + port, ForcePathStyle: true}
	res := s3.TestConnection(context.Background(), cfg)
	if res.OK || len(res.Steps) != 1 {
		t.Fatalf("result: got %+v, want the first step to fail", res)
	}
	if step := res.Steps[0]; step.Name != s3.StepCredentials || step.Code != s3.CodeInvalidConfig ||
		!strings.Contains(step.Message, `auth "default" cannot be used with a custom endpoint`) || !strings.Contains(step.Hint, "IAM role or access keys") {
		t.Errorf("step: got %+v, want InvalidConfig about default auth with an endpoint", step)
	}
	_, err := (&s3.Factory{}).Client(context.Background(), "dst_1", cfg)
	if f := s3.Classify(err); !errors.Is(err, s3.ErrDefaultAuthEndpoint) || f.Retryable || f.Code != s3.CodeInvalidConfig {
		t.Errorf("factory: got %+v (%v), want a permanent InvalidConfig", f, err)
	}
	if got := accepted.Load(); got != 0 {
		t.Errorf("connections: got %d, want 0", got)
	}
}
