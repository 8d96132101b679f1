package main_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	segment "github.com/segmentio/analytics-go/v3"

	"github.com/s3relay/s3relay/delivery/s3/miniotest"
	"github.com/s3relay/s3relay/store/pgtest"
)

// cluster is several "s3relay serve" replicas on one PostgreSQL database
// with one key.
type cluster struct {
	tb       testing.TB
	DBURL    string
	Key      string
	Replicas []*replica
	env      []string
}

// replica is one "s3relay serve" process of a cluster; it keeps its address
// and data dir across restarts.
type replica struct {
	ID      string
	Addr    string
	URL     string
	DataDir string
	cmd     *exec.Cmd
	log     *syncBuffer
	done    chan error
}

const (
	clusterAdmin    = "ops@example.com"
	clusterPassword = "cluster password"
)

// startCluster starts n replicas on a fresh PostgreSQL database, one after
// the other (the first migrates and creates the administrator).
func startCluster(tb testing.TB, n int, extraEnv ...string) *cluster {
	tb.Helper()
	key := make([]byte, 32)
	crand.Read(key)
	return newCluster(tb, pgtest.URL(tb), hex.EncodeToString(key), n, extraEnv...)
}

// startSQLite starts one server on SQLite in its data dir, as a cluster of
// one, for comparisons.
func startSQLite(tb testing.TB, extraEnv ...string) *cluster {
	tb.Helper()
	return newCluster(tb, "", "", 1, extraEnv...)
}

func newCluster(tb testing.TB, dbURL, key string, n int, extraEnv ...string) *cluster {
	tb.Helper()
	c := &cluster{tb: tb, DBURL: dbURL, Key: key, env: extraEnv}
	for i := 0; i < n; i++ {
		addr := freeAddr(tb)
		r := &replica{ID: fmt.Sprintf("replica-%d", i+1), Addr: addr, URL: "http://" + addr, DataDir: tb.TempDir()}
		c.Replicas = append(c.Replicas, r)
		c.start(r)
	}
	tb.Cleanup(func() {
		for _, r := range c.Replicas {
			if tb.Failed() && r.log != nil {
				tb.Logf("%s log (errors and warnings, then the last lines):\n%s\n...\n%s", r.ID, problems(r.log.String(), 20), lastLines(r.log.String(), 10))
			}
			if r.running() {
				r.cmd.Process.Kill()
				<-r.done
			}
		}
	})
	return c
}

func (r *replica) running() bool { return r.cmd != nil && r.cmd.ProcessState == nil }

// start runs the replica's process and waits until /readyz answers 200.
func (c *cluster) start(r *replica) {
	c.tb.Helper()
	// One log over the replica's restarts.
	if r.log == nil {
		r.log = &syncBuffer{}
	} else {
		fmt.Fprintf(r.log, "--- restarted ---\n")
	}
	r.done = make(chan error, 1)
	r.cmd = exec.Command(binary, "serve", "--addr", r.Addr, "--data-dir", r.DataDir)
	r.cmd.Env = append(os.Environ(), "S3RELAY_ADMIN_EMAIL="+clusterAdmin, "S3RELAY_ADMIN_PASSWORD="+clusterPassword)
	if c.DBURL != "" {
		r.cmd.Env = append(r.cmd.Env, "S3RELAY_DATABASE_URL="+c.DBURL, "S3RELAY_KEY="+c.Key, "S3RELAY_REPLICA_ID="+r.ID)
	}
	r.cmd.Env = append(r.cmd.Env, c.env...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		c.tb.Fatal(err)
	}
	cmd, done := r.cmd, r.done
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(r.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			done <- err
			c.tb.Fatalf("%s exited while starting: %v\n%s", r.ID, err, r.log.String())
		default:
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("%s not ready after 30s: %v\n%s", r.ID, err, r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the replica with SIGKILL and waits for it to be gone.
func (r *replica) kill() {
	r.cmd.Process.Signal(syscall.SIGKILL)
	err := <-r.done
	r.done <- err
}

// failoverDialer connects to the replicas in turn, whatever address a
// request names, and moves on to the next replica when one refuses the
// connection (it is dead or restarting): what a client-side list of
// endpoints or a load balancer does.
type failoverDialer struct {
	addrs []string
	next  atomic.Int64
	d     net.Dialer
}

func (f *failoverDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	start := int(f.next.Add(1))
	var err error
	for i := range f.addrs {
		var conn net.Conn
		conn, err = f.d.DialContext(ctx, network, f.addrs[(start+i)%len(f.addrs)])
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
	}
	return nil, err
}

// httpClient is a client whose requests go to any replica, failing over on
// a refused connection.
func (c *cluster) httpClient() *http.Client {
	f := &failoverDialer{d: net.Dialer{Timeout: 2 * time.Second}}
	for _, r := range c.Replicas {
		f.addrs = append(f.addrs, r.Addr)
	}
	// No keep-alive: every request picks its replica afresh, which spreads
	// the load and never reuses a connection to a killed replica.
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: f.DialContext, DisableKeepAlives: true}}
}

// signIn signs in on the first replica and returns the browser.
func (c *cluster) signIn() *browser {
	c.tb.Helper()
	b := newBrowser(c.tb, c.Replicas[0].URL)
	if code := b.login(clusterAdmin, clusterPassword); code != http.StatusSeeOther {
		c.tb.Fatalf("sign-in on %s: status %d, want 303", c.Replicas[0].ID, code)
	}
	return b
}

// page fetches a dashboard page of base with the browser's cookies.
func (b *browser) page(base, path string) (int, string) {
	b.tb.Helper()
	resp, err := b.c.Get(base + path)
	if err != nil {
		b.tb.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

var newTokenRE = regexp.MustCompile(`id="new-token-value"[^>]*value="(s3r_[^"]+)"`)

// createToken creates an API token through the settings page of one replica
// (csrf read from another) and returns it.
func (c *cluster) createToken(b *browser, formFrom, postTo *replica) string {
	c.tb.Helper()
	status, page := b.page(formFrom.URL, "/settings")
	m := csrfRE.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		c.tb.Fatalf("GET /settings on %s with a session of %s: status %d (csrf found: %v), want 200", formFrom.ID, c.Replicas[0].ID, status, m != nil)
	}
	resp, err := b.c.PostForm(postTo.URL+"/settings/tokens", url.Values{"_csrf": {m[1]}, "token_name": {"cluster-" + postTo.ID}})
	if err != nil {
		c.tb.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tm := newTokenRE.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || tm == nil {
		c.tb.Fatalf("POST /settings/tokens on %s with the csrf of %s: status %d, no new token shown", postTo.ID, formFrom.ID, resp.StatusCode)
	}
	return string(tm[1])
}

// api sends a management API request to base and decodes the answer into out.
func api(tb testing.TB, hc *http.Client, method, u, token string, in, out any) int {
	tb.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.Fatalf("%s %s: %d %s: %v", method, u, resp.StatusCode, raw, err)
		}
	}
	if resp.StatusCode >= 300 {
		tb.Logf("%s %s: %d %s", method, u, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// TestClusterDashboardThroughAnyReplica signs in on one replica and goes on
// with the same cookies on the others: pages, a form posted with a CSRF token
// another replica issued, the API token it creates, and sign-out.
func TestClusterDashboardThroughAnyReplica(t *testing.T) {
	c := startCluster(t, 3)
	b := c.signIn()
	for _, r := range c.Replicas[1:] {
		if status, page := b.page(r.URL, "/settings"); status != http.StatusOK || !strings.Contains(page, "API tokens") {
			t.Errorf("GET /settings on %s with the session of %s: status %d, want 200 and the settings page", r.ID, c.Replicas[0].ID, status)
		}
	}
	token := c.createToken(b, c.Replicas[1], c.Replicas[2])
	for _, r := range c.Replicas {
		if status, body := apiGet(t, r.URL+"/api/v1/sources", token); status != http.StatusOK {
			t.Errorf("GET /api/v1/sources on %s with the token created on %s: %d %v", r.ID, c.Replicas[2].ID, status, body)
		}
	}
	// Signing out on one replica ends the session on every one.
	_, page := b.page(c.Replicas[1].URL, "/settings")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no csrf token on /settings")
	}
	resp, err := b.c.PostForm(c.Replicas[1].URL+"/logout", url.Values{"_csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, r := range c.Replicas {
		if status := (&browser{tb: t, base: r.URL, c: b.c}).status("/settings"); status != http.StatusSeeOther {
			t.Errorf("GET /settings on %s after signing out on %s: status %d, want 303 to the sign-in page", r.ID, c.Replicas[1].ID, status)
		}
	}
}

// apiReplicaJSON is an entry of GET /api/v1/replicas.
type apiReplicaJSON struct {
	ID      string   `json:"id"`
	Version string   `json:"version"`
	Status  string   `json:"status"`
	Roles   []string `json:"roles"`
	Self    bool     `json:"self"`
}

// TestClusterReplicasAreListed: every replica of a cluster is listed, by any
// of them, as running with the build's version; exactly one routes and one
// purges; the settings page shows the same, marking the replica that served
// it; a replica stopped with SIGTERM is listed as stopped.
func TestClusterReplicasAreListed(t *testing.T) {
	c := startCluster(t, 3)
	b := c.signIn()
	token := c.createToken(b, c.Replicas[0], c.Replicas[1])
	hc := &http.Client{Timeout: 10 * time.Second}
	list := func(r *replica) map[string]apiReplicaJSON {
		t.Helper()
		var out struct{ Data []apiReplicaJSON }
		if status := api(t, hc, http.MethodGet, r.URL+"/api/v1/replicas", token, nil, &out); status != http.StatusOK {
			t.Fatalf("GET /api/v1/replicas on %s: status %d", r.ID, status)
		}
		m := map[string]apiReplicaJSON{}
		for _, x := range out.Data {
			m[x.ID] = x
		}
		return m
	}
	count := func(m map[string]apiReplicaJSON, role string) int {
		n := 0
		for _, x := range m {
			if slices.Contains(x.Roles, role) {
				n++
			}
		}
		return n
	}
	var got map[string]apiReplicaJSON
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = list(c.Replicas[1])
		running := 0
		for _, x := range got {
			if x.Status == "running" {
				running++
			}
		}
		if running == 3 && count(got, "routing") == 1 && count(got, "retention") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /api/v1/replicas: %+v, want 3 running, one routing and one purging", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, r := range c.Replicas {
		x, ok := got[r.ID]
		if !ok || x.Version == "" || x.Self != (r == c.Replicas[1]) {
			t.Errorf("%s listed as %+v (found %v), want its version, self only on %s", r.ID, x, ok, c.Replicas[1].ID)
		}
	}
	status, page := b.page(c.Replicas[2].URL, "/settings")
	if status != http.StatusOK || strings.Count(page, `data-testid="replica-row"`) != 3 || strings.Count(page, "this page") != 1 ||
		!strings.Contains(page, c.Replicas[2].ID) {
		t.Errorf("GET /settings on %s: status %d, want 3 replica rows, %s marked as this page", c.Replicas[2].ID, status, c.Replicas[2].ID)
	}
	gone := c.Replicas[2]
	gone.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-gone.done; err != nil {
		t.Fatalf("%s after SIGTERM: %v", gone.ID, err)
	}
	gone.done <- nil
	if x := list(c.Replicas[0])[gone.ID]; x.Status != "stopped" || len(x.Roles) != 0 {
		t.Errorf("%s after SIGTERM is listed as %+v, want stopped, with no role", gone.ID, x)
	}
}

var setupCodeRE = regexp.MustCompile(`setup_code=([A-Z0-9-]+)`)

// TestClusterSetupCodeThroughAnyReplica: on a new database without an
// administrator from the environment, every replica logs the same setup
// code, so the setup page accepts it through any replica behind a balancer;
// once used, no replica asks for one again, also after a restart.
func TestClusterSetupCodeThroughAnyReplica(t *testing.T) {
	c := startCluster(t, 3, "S3RELAY_ADMIN_EMAIL=", "S3RELAY_ADMIN_PASSWORD=")
	var code string
	for _, r := range c.Replicas {
		m := setupCodeRE.FindStringSubmatch(r.log.String())
		if m == nil {
			t.Fatalf("%s logged no setup code:\n%s", r.ID, lastLines(r.log.String(), 10))
		}
		if code == "" {
			code = m[1]
		} else if m[1] != code {
			t.Fatalf("%s logged setup code %s, %s logged %s: want one code for every replica", r.ID, m[1], c.Replicas[0].ID, code)
		}
	}
	// The form comes from one replica, the post goes to another, with the
	// code from a third's log.
	b := newBrowser(t, c.Replicas[0].URL)
	_, page := b.page(c.Replicas[0].URL, "/setup")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no csrf token on /setup")
	}
	resp, err := b.c.PostForm(c.Replicas[1].URL+"/setup", url.Values{"_csrf": {m[1]}, "code": {code}, "email": {clusterAdmin}, "password": {clusterPassword}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup on %s with %s's code: status %d, want 303\n%s", c.Replicas[1].ID, c.Replicas[2].ID, resp.StatusCode, body)
	}
	if status, page := b.page(c.Replicas[2].URL, "/settings"); status != http.StatusOK || !strings.Contains(page, "API tokens") {
		t.Errorf("GET /settings on %s after setup on %s: status %d, want 200", c.Replicas[2].ID, c.Replicas[1].ID, status)
	}
	if code := newBrowser(t, c.Replicas[0].URL).login(clusterAdmin, clusterPassword); code != http.StatusSeeOther {
		t.Errorf("sign-in on %s as the administrator created on %s: status %d, want 303", c.Replicas[0].ID, c.Replicas[1].ID, code)
	}
	for _, r := range c.Replicas {
		if status := newBrowser(t, r.URL).status("/setup"); status != http.StatusSeeOther {
			t.Errorf("GET /setup on %s after setup: status %d, want 303 to the sign-in page", r.ID, status)
		}
	}
	r := c.Replicas[2]
	r.kill()
	c.start(r)
	if n := strings.Count(r.log.String(), "setup_code="); n != 1 {
		t.Errorf("%s logged a setup code %d times over a restart after setup, want once (before setup)", r.ID, n)
	}
}

// apiAttemptJSON is an entry of a delivery's attempt log, with the replica
// that made it.
type apiAttemptJSON struct {
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	OK         bool      `json:"ok"`
	Replica    string    `json:"replica"`
}

type apiDeliveryJSON struct {
	ID         string           `json:"id"`
	Key        string           `json:"key"`
	Status     string           `json:"status"`
	Events     int              `json:"events"`
	AttemptLog []apiAttemptJSON `json:"attempt_log"`
}

// deliveries lists every delivery of a mapping through the API.
func deliveries(tb testing.TB, hc *http.Client, base, token, mappingID string) []apiDeliveryJSON {
	tb.Helper()
	var all []apiDeliveryJSON
	before := ""
	for {
		q := url.Values{"mapping_id": {mappingID}, "limit": {"500"}}
		if before != "" {
			q.Set("before", before)
		}
		var page struct {
			Data []apiDeliveryJSON `json:"data"`
			Next string            `json:"next"`
		}
		if status := api(tb, hc, http.MethodGet, base+"/api/v1/deliveries?"+q.Encode(), token, nil, &page); status != http.StatusOK {
			tb.Fatalf("GET /api/v1/deliveries: status %d", status)
		}
		all = append(all, page.Data...)
		if page.Next == "" {
			return all
		}
		before = page.Next
	}
}

// mustAPIPipeline creates through the management API a source, a
// destination on MinIO's bucket for it, and the mappings; it returns the
// source's write key and the mappings' ids.
func mustAPIPipeline(tb testing.TB, hc *http.Client, base, token string, mio *miniotest.Server, bucket string, mappings ...map[string]any) (string, []string) {
	tb.Helper()
	var src struct {
		ID       string `json:"id"`
		WriteKey string `json:"write_key"`
	}
	if status := api(tb, hc, http.MethodPost, base+"/api/v1/sources", token, map[string]any{"name": "app"}, &src); status != http.StatusCreated {
		tb.Fatalf("create source: status %d", status)
	}
	var dest struct {
		ID string `json:"id"`
	}
	if status := api(tb, hc, http.MethodPost, base+"/api/v1/destinations", token, map[string]any{
		"name": "minio", "enabled": true, "source_ids": []string{src.ID},
		"config":      map[string]any{"bucket": bucket, "region": mio.Region, "auth": "keys", "endpoint": mio.Endpoint, "force_path_style": true},
		"credentials": map[string]any{"key": mio.AccessKey, "secret": mio.SecretKey},
	}, &dest); status != http.StatusCreated {
		tb.Fatalf("create destination: status %d", status)
	}
	var ids []string
	for _, m := range mappings {
		var out struct {
			ID string `json:"id"`
		}
		if status := api(tb, hc, http.MethodPost, base+"/api/v1/destinations/"+dest.ID+"/mappings", token, m, &out); status != http.StatusCreated {
			tb.Fatalf("create mapping %v: status %d", m["name"], status)
		}
		ids = append(ids, out.ID)
	}
	return src.WriteKey, ids
}

// waitAPIDelivered waits until no file of the mapping waits and at least
// want of its events are delivered, and returns its deliveries.
func waitAPIDelivered(tb testing.TB, hc *http.Client, base, token, mappingID string, want int, timeout time.Duration) []apiDeliveryJSON {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ds := deliveries(tb, hc, base, token, mappingID)
		delivered, waiting := 0, 0
		for _, d := range ds {
			if d.Status == "delivered" {
				delivered += d.Events
			} else {
				waiting++
			}
		}
		if delivered >= want && waiting == 0 {
			return ds
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %d events of mapping %s delivered in %d files, %d files waiting; want %d", timeout, delivered, mappingID, len(ds), waiting, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterSIGKILLRoundsDeliverExactlyOnce runs three replicas on one
// PostgreSQL while unmodified analytics-go clients send 50,000 events spread
// over them (their HTTP client fails over to another replica on a refused
// connection). Five times a random replica is SIGKILLed and restarted a few
// seconds later; then one is killed for good and the other two finish. Every
// event is in exactly one object of each mapping it matches (a csv mapping of
// tracks, a jsonl mapping of everything), and no delivery has overlapping
// attempts from two replicas.
func TestClusterSIGKILLRoundsDeliverExactlyOnce(t *testing.T) {
	mio := miniotest.Start(t)
	miniotest.IsolateAWSEnv(t)
	const bucket = "events"
	mio.MustCreateBucket(t, bucket)
	c := startCluster(t, 3)
	token := c.createToken(c.signIn(), c.Replicas[0], c.Replicas[1])
	hc := c.httpClient()
	base := "http://s3relay.cluster" // any name: the dialer picks the replica

	writeKey, mappingIDs := mustAPIPipeline(t, hc, base, token, mio, bucket, map[string]any{
		"name": "tracks csv", "format": "csv", "folder": "tracks", "trigger": `type = "track"`, "batch_size": 1000, "batch_max_age_seconds": 1,
		"columns": []map[string]string{{"name": "message_id", "value": "$.messageId"}, {"name": "event_name", "value": "$.event"}, {"name": "user_id", "value": "$.userId"}},
	}, map[string]any{
		"name": "everything jsonl", "format": "jsonl", "folder": "all", "key_preset": "hive", "trigger": `type = "track" or type = "identify"`,
		"batch_size": 2000, "batch_max_age_seconds": 2,
	})
	tracks, all := mappingIDs[0], mappingIDs[1]

	// Two unmodified analytics-go clients, each sending half of the events
	// at a steady pace that spans the kill rounds.
	const n = 50000
	var acked, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	cb := callback{ok: func(segment.Message) { acked.Add(1) }, fail: func(m segment.Message, err error) {
		failed.Add(1)
		failMu.Lock()
		if len(failures) < 5 {
			failures = append(failures, err.Error())
		}
		failMu.Unlock()
	}}
	clients := make([]segment.Client, 2)
	for i := range clients {
		var err error
		clients[i], err = segment.NewWithConfig(writeKey, segment.Config{Endpoint: base, BatchSize: 250, Interval: 50 * time.Millisecond,
			Transport: hc.Transport, Callback: cb, Logger: discardLogger{},
			RetryAfter: func(attempt int) time.Duration { return time.Duration(200*(attempt+1)) * time.Millisecond }})
		if err != nil {
			t.Fatal(err)
		}
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(220 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < n; i++ {
			if i%500 == 0 && i > 0 {
				<-tick.C
			}
			var msg segment.Message = segment.Track{MessageId: fmt.Sprintf("cl-%05d", i), UserId: fmt.Sprintf("u%d", i%100), Event: "Order Completed",
				Properties: segment.NewProperties().Set("i", i)}
			if i%10 == 0 {
				msg = segment.Identify{MessageId: fmt.Sprintf("cl-%05d", i), UserId: fmt.Sprintf("u%d", i%100), Traits: segment.NewTraits().SetEmail("x@example.com")}
			}
			clients[i%2].Enqueue(msg)
		}
	}()

	// Five rounds: kill a random replica while events flow and files are
	// sealed and uploaded, bring it back a few seconds later.
	for round := 0; round < 5; round++ {
		time.Sleep(time.Duration(800+rand.IntN(1200)) * time.Millisecond)
		r := c.Replicas[rand.IntN(len(c.Replicas))]
		r.kill()
		t.Logf("round %d: killed %s (%d events acknowledged so far)", round+1, r.ID, acked.Load())
		time.Sleep(2 * time.Second) // down for a while: the others take over its leases
		c.start(r)
	}
	// One replica for good: the other two finish everything.
	gone := c.Replicas[rand.IntN(len(c.Replicas))]
	gone.kill()
	t.Logf("killed %s for good (%d events acknowledged so far)", gone.ID, acked.Load())
	<-sent
	deadline := time.Now().Add(60 * time.Second)
	for acked.Load()+failed.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d of %d events acknowledged, %d failed", acked.Load(), n, failed.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, cl := range clients {
		cl.Close()
	}
	if failed.Load() > 0 {
		t.Fatalf("%d events not acknowledged by any replica: %v", failed.Load(), failures)
	}

	wantTracks := n - n/10
	trackDeliveries := waitAPIDelivered(t, hc, base, token, tracks, wantTracks, 90*time.Second)
	allDeliveries := waitAPIDelivered(t, hc, base, token, all, n, 90*time.Second)

	p := &pipeline{MinIO: mio, Bucket: bucket}
	for _, check := range []struct {
		prefix string
		want   func(i int) bool
	}{{"tracks/", func(i int) bool { return i%10 != 0 }}, {"all/", func(int) bool { return true }}} {
		ids, files := p.objectIDs(t, check.prefix)
		missing := 0
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("cl-%05d", i)
			switch got := ids[id]; {
			case check.want(i) && got == 0:
				missing++
			case check.want(i) && got != 1:
				t.Errorf("%s: %s is in %d objects, want 1", check.prefix, id, got)
			case !check.want(i) && got != 0:
				t.Errorf("%s: %s is in %d objects, want none (the trigger does not match it)", check.prefix, id, got)
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d events in no object (%d files)", check.prefix, missing, files)
		}
		t.Logf("%s: %d distinct events in %d files", check.prefix, len(ids), files)
	}

	// The attempt log: every attempt names its replica, and two replicas
	// never uploaded one file at the same time.
	byReplica := map[string]int{}
	for _, d := range append(trackDeliveries, allDeliveries...) {
		var detail apiDeliveryJSON
		if status := api(t, hc, http.MethodGet, base+"/api/v1/deliveries/"+d.ID, token, nil, &detail); status != http.StatusOK {
			t.Fatalf("GET /api/v1/deliveries/%s: status %d", d.ID, status)
		}
		if err := overlappingAttempts(detail.AttemptLog); err != nil {
			t.Errorf("delivery %s (%s): %v", d.ID, d.Key, err)
		}
		for _, a := range detail.AttemptLog {
			if a.Replica == "" {
				t.Errorf("delivery %s: attempt %d names no replica", d.ID, a.N)
			}
			if a.OK {
				byReplica[a.Replica]++
			}
		}
	}
	t.Logf("files uploaded by replica: %v", byReplica)
}

// problems returns the first n lines of a log at level WARN or ERROR.
func problems(log string, n int) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			out = append(out, line)
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// overlappingAttempts reports two attempts of one delivery made by different
// replicas whose times overlap.
func overlappingAttempts(log []apiAttemptJSON) error {
	as := append([]apiAttemptJSON(nil), log...)
	sort.Slice(as, func(i, j int) bool { return as[i].At.Before(as[j].At) })
	for i := range as {
		end := as[i].At.Add(time.Duration(as[i].DurationMS) * time.Millisecond)
		for j := i + 1; j < len(as) && as[j].At.Before(end); j++ {
			if as[j].Replica != as[i].Replica {
				return fmt.Errorf("attempt %d by %s (%v, %d ms) overlaps attempt %d by %s (%v)",
					as[i].N, as[i].Replica, as[i].At, as[i].DurationMS, as[j].N, as[j].Replica, as[j].At)
			}
		}
	}
	return nil
}

// callback counts what analytics-go reports for each message.
type callback struct {
	ok   func(segment.Message)
	fail func(segment.Message, error)
}

func (c callback) Success(m segment.Message)            { c.ok(m) }
func (c callback) Failure(m segment.Message, err error) { c.fail(m, err) }

// discardLogger keeps analytics-go's retry messages (expected while replicas
// are killed) out of the test output.
type discardLogger struct{}

func (discardLogger) Logf(string, ...any)   {}
func (discardLogger) Errorf(string, ...any) {}
