package s3

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// CodeEndpointNotAllowed is the code of a failure s3relay refused before
// connecting: a custom endpoint's address, or a redirect, that the endpoint
// policy does not allow.
const CodeEndpointNotAllowed = "EndpointNotAllowed"

// maxRedirects bounds the same-host redirects a custom endpoint may answer
// with, as net/http's own default does.
const maxRedirects = 10

// EndpointPolicy says which addresses clients may connect to for a custom
// endpoint, the host a user typed. The zero value refuses what no S3 service
// lives at and what must never receive a signed request: link-local and cloud
// metadata addresses, the unspecified address (which reaches the server
// itself), multicast and broadcast. Addresses are checked when connecting,
// after DNS resolution, for every connection, redirects included.
type EndpointPolicy struct {
	// DenyPrivate also refuses loopback, private (RFC 1918, unique local),
	// shared (carrier-grade NAT) and other special-purpose ranges: the
	// --deny-private-endpoints flag of serve.
	DenyPrivate bool
}

// EndpointError is a connection to a custom endpoint that s3relay refused to
// make. No connection was attempted, so it reads the same whatever listens at
// the address, or whether anything does.
type EndpointError struct {
	// Host is the endpoint's host name or literal address, without port.
	Host string
	// Addr is the refused address; the zero Addr for a refused redirect.
	Addr netip.Addr
	// Rule says why: the range that refuses Addr, such as "a link-local
	// address (169.254.0.0/16)", or that a redirect leaves the endpoint.
	Rule string
	// Private is true when Addr is refused only because of
	// EndpointPolicy.DenyPrivate.
	Private bool
	// Location is where a refused redirect pointed.
	Location string
}

func (e *EndpointError) Error() string {
	switch {
	case e.Location != "":
		return fmt.Sprintf("endpoint not allowed: %s redirected to %s, another host; s3relay follows redirects only on the endpoint's own host", e.Host, e.Location)
	case !e.Addr.IsValid():
		return fmt.Sprintf("endpoint address not allowed: %s: %s", e.Host, e.Rule)
	case e.Host == "" || e.Host == e.Addr.String():
		return fmt.Sprintf("endpoint address not allowed: %s is %s", e.Addr, e.Rule)
	case isLiteral(e.Host):
		// The dialer connects to an IPv4-mapped address as the IPv4 one.
		return fmt.Sprintf("endpoint address not allowed: %s reaches %s, %s", e.Host, e.Addr, e.Rule)
	default:
		return fmt.Sprintf("endpoint address not allowed: %s resolves to %s, %s", e.Host, e.Addr, e.Rule)
	}
}

func isLiteral(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// addrRule is a range of addresses the policy refuses.
type addrRule struct {
	prefix netip.Prefix
	what   string
	// private rules apply only with EndpointPolicy.DenyPrivate.
	private bool
}

func rule(prefix, what string, private bool) addrRule {
	return addrRule{prefix: netip.MustParsePrefix(prefix), what: what, private: private}
}

// addrRules are checked in order; the first match names the refusal.
var addrRules = []addrRule{
	rule("169.254.0.0/16", "a link-local address", false),
	rule("fe80::/10", "a link-local address", false),
	rule("fd00:ec2::254/128", "a cloud metadata address (AWS)", false),
	rule("100.100.100.200/32", "a cloud metadata address (Alibaba Cloud)", false),
	rule("168.63.129.16/32", "a cloud platform address (Azure)", false),
	rule("0.0.0.0/8", "the unspecified address, which reaches this server", false),
	rule("::/128", "the unspecified address, which reaches this server", false),
	rule("224.0.0.0/4", "a multicast address", false),
	rule("ff00::/8", "a multicast address", false),
	rule("255.255.255.255/32", "the broadcast address", false),

	rule("127.0.0.0/8", "a loopback address", true),
	rule("::1/128", "a loopback address", true),
	rule("10.0.0.0/8", "a private address", true),
	rule("172.16.0.0/12", "a private address", true),
	rule("192.168.0.0/16", "a private address", true),
	rule("fc00::/7", "a private (unique local) address", true),
	rule("100.64.0.0/10", "a shared (carrier-grade NAT) address", true),
	rule("192.0.0.0/24", "an IETF protocol address", true),
	rule("198.18.0.0/15", "a benchmarking address", true),
	rule("192.0.2.0/24", "a documentation address", true),
	rule("198.51.100.0/24", "a documentation address", true),
	rule("203.0.113.0/24", "a documentation address", true),
	rule("2001:db8::/32", "a documentation address", true),
	rule("240.0.0.0/4", "a reserved address", true),
	rule("fec0::/10", "a site-local address", true),
	rule("64:ff9b:1::/48", "a local NAT64 address", true),
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	compatPrefix = netip.MustParsePrefix("::/96")
	loopOrUnspec = netip.MustParsePrefix("::/127")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address reaches when it
// carries one: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or
// the deprecated IPv4-compatible form (::a.b.c.d).
func embeddedIPv4(a netip.Addr) (netip.Addr, string, bool) {
	last4 := func() netip.Addr {
		b := a.As16()
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case a.Is4In6():
		return a.Unmap(), "IPv4-mapped", true
	case nat64Prefix.Contains(a):
		return last4(), "NAT64", true
	case compatPrefix.Contains(a) && !loopOrUnspec.Contains(a):
		return last4(), "IPv4-compatible", true
	}
	return a, "", false
}

// CheckAddr reports whether the policy refuses a connection to a, an address
// that host resolved to (host may be the literal address itself): nil, or an
// *EndpointError that names the rule. An IPv6 address that carries an IPv4
// address is checked as the IPv4 address it reaches.
func (p EndpointPolicy) CheckAddr(host string, a netip.Addr) error {
	a = a.WithZone("")
	check := a
	v4, form, embedded := embeddedIPv4(a)
	if embedded {
		check = v4
	}
	for _, r := range addrRules {
		if (r.private && !p.DenyPrivate) || !r.prefix.Contains(check) {
			continue
		}
		why := fmt.Sprintf("%s (%s)", r.what, r.prefix)
		if embedded {
			why = fmt.Sprintf("%s in %s form, %s", v4, form, why)
		}
		return &EndpointError{Host: host, Addr: a, Rule: why, Private: r.private}
	}
	return nil
}

// CheckEndpoint checks a custom endpoint URL before it is stored: a literal
// address is refused as a connection to it would be. A host name can only be
// checked when connecting, once resolved, so it passes here. nil for an
// empty or unparsable endpoint (validation reports those).
func (p EndpointPolicy) CheckEndpoint(endpoint string) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil
	}
	return p.checkLiteral(u.Hostname())
}

// checkLiteral checks host when it is a literal address.
func (p EndpointPolicy) checkLiteral(host string) error {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	return p.CheckAddr(host, a)
}

// httpClient returns the HTTP client of an S3 client for a custom endpoint:
// base's transport settings (timeouts, TLS, a CA bundle from the AWS
// configuration), with every connection's address checked by
// the policy just before it is made (after DNS resolution, so a host name
// that resolves to a refused address is refused too), and redirects followed
// only on the endpoint's own host.
//
// When the environment sends the endpoint through an HTTP proxy, connections
// go to the proxy, which the operator chose, and the proxy resolves the
// endpoint's name: only a literal endpoint address can be checked then.
func (p EndpointPolicy) httpClient(base *awshttp.BuildableClient, endpoint *url.URL) *http.Client {
	tr := base.GetTransport()
	dialer := base.GetDialer()
	proxy, err := http.ProxyFromEnvironment(&http.Request{URL: endpoint})
	switch {
	case err == nil && proxy != nil:
		tr.Proxy = http.ProxyURL(proxy)
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := p.checkLiteral(endpoint.Hostname()); err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, addr)
		}
	default:
		tr.Proxy = nil
		tr.DialContext = p.dialContext(dialer)
	}
	return &http.Client{Transport: redirectGuard{tr}, CheckRedirect: checkRedirect}
}

// redirectGuard turns a 307 or 308 to another host into an *EndpointError.
// net/http follows those only for requests it can send again, and asks
// checkRedirect first; a PUT whose body it cannot rewind would come back as
// the bare redirect. Checked here, every request reads the same.
type redirectGuard struct{ next http.RoundTripper }

func (g redirectGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusPermanentRedirect {
		if loc, lerr := resp.Location(); lerr == nil && !sameHost(r.URL, loc) {
			resp.Body.Close()
			return nil, redirectRefused(r.URL, loc)
		}
	}
	return resp, nil
}

func sameHost(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Host, b.Host)
}

func redirectRefused(from, to *url.URL) *EndpointError {
	loc := to.Redacted()
	if len(loc) > 200 {
		loc = loc[:200] + "…"
	}
	return &EndpointError{Host: from.Host, Rule: "a redirect to another host", Location: loc}
}

// dialContext dials like base, refusing each address the policy does not
// allow after resolution and before the connection is attempted.
func (p EndpointPolicy) dialContext(base *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		d := *base
		// Control runs for every address tried, once the socket exists and
		// before it connects: nothing is sent to a refused address.
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &EndpointError{Host: host, Rule: "an address s3relay cannot check (" + address + ")"}
			}
			return p.CheckAddr(host, ap.Addr())
		}
		return d.DialContext(ctx, network, addr)
	}
}

// checkRedirect follows 307 and 308 (which keep the method and body, as the
// SDK's own client does) only on the endpoint's own scheme and host; the
// response of any other redirect is returned as it is, for the SDK to read
// as an error.
func checkRedirect(r *http.Request, via []*http.Request) error {
	switch r.Response.StatusCode {
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return http.ErrUseLastResponse
	}
	if from := via[0].URL; !sameHost(from, r.URL) {
		return redirectRefused(from, r.URL)
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// endpointHint tells the user what to do about a refused endpoint.
func endpointHint(e *EndpointError) string {
	switch {
	case e.Location != "":
		return "Set Endpoint to the address that answers S3 requests itself: s3relay does not follow a custom endpoint's redirects to other hosts."
	case e.Private:
		return "This server runs with --deny-private-endpoints, which refuses loopback and private addresses for custom endpoints: " +
			"set Endpoint to a public address, or ask the operator to allow private endpoints."
	default:
		return "s3relay never connects to link-local, cloud metadata, unspecified, multicast or broadcast addresses, " +
			"whatever the Endpoint says: set Endpoint to the S3 service's own address."
	}
}
