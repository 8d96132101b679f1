package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
)

// peakRSS is the peak resident memory of a process, from /proc (VmHWM).
func peakRSS(tb testing.TB, pid int) float64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			return kb / 1024
		}
	}
	tb.Fatal("no VmHWM")
	return 0
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// BenchmarkEndToEnd runs the s3relay binary against MinIO on this machine,
// ingesting over HTTP while the engine delivers, with 1,000-event csv files
// (batch age 1 s). It reports delivered events/s, p50/p99 time from receipt
// to object written, the server's peak memory (RSS), and in the same run the
// raw MinIO PUT rate of the same objects. Targets: 30,000 events/s, p99
// under 3 s, under 300 MB.
func BenchmarkEndToEnd(b *testing.B) { benchEndToEnd(b, "csv") }

// BenchmarkEndToEndParquet is BenchmarkEndToEnd writing the same events as
// snappy parquet files with typed columns (timestamp a timestamp,
// properties json). Targets: at least 70% of csv's events/s, at most 40% of
// its bytes per event.
func BenchmarkEndToEndParquet(b *testing.B) { benchEndToEnd(b, "parquet") }

func benchEndToEnd(b *testing.B, format string) {
	const (
		events  = 200000
		perReq  = 100
		clients = 8
	)
	for i := 0; i < b.N; i++ {
		m := &store.Mapping{Name: "bench", Format: format, Folder: "bench", BatchSize: 1000, BatchMaxAgeSeconds: 1, Columns: []store.Column{
			{Name: "message_id", Value: "$.messageId"}, {Name: "event_name", Value: "$.event"}, {Name: "user_id", Value: "$.userId"},
			{Name: "properties", Value: "$.properties"}, {Name: "timestamp", Value: "$.timestamp"},
		}}
		if format == "parquet" {
			m.KeyPreset = "segment_actions"
		}
		p := mustPipeline(b, m)
		s := startServer(b, p.DataDir)
		bodies := make([][]byte, events/perReq)
		for j := range bodies {
			var sb strings.Builder
			sb.WriteString(`{"batch":[`)
			for k := 0; k < perReq; k++ {
				if k > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"type":"track","messageId":"b-%d-%d","userId":"user-%d","event":"Order Completed","properties":{"order":"o-%d","total":%d.5,"currency":"EUR"}}`, j, k, k%97, j*perReq+k, k)
			}
			sb.WriteString(`],"context":{"library":{"name":"analytics-go","version":"3.3.0"}}}`)
			bodies[j] = []byte(sb.String())
		}
		b.ResetTimer()
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					j := int(next.Add(1)) - 1
					if j >= len(bodies) {
						return
					}
					req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/batch", bytes.NewReader(bodies[j]))
					req.SetBasicAuth(p.Source.WriteKey, "")
					resp, err := hc.Do(req)
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Errorf("send: %v %v", resp, err)
						return
					}
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		ingested := time.Since(start)
		p.waitAllDelivered(b, m, events, 5*time.Minute)
		elapsed := time.Since(start)
		b.StopTimer()
		rss := peakRSS(b, s.cmd.Process.Pid)
		s.stop(b, syscall.SIGTERM)

		lat, objects, bytesOut := p.latencies(b, m)
		rate := float64(events) / elapsed.Seconds()
		rawElapsed := p.rawPuts(b, objects, bytesOut)
		rawRate := float64(events) / rawElapsed.Seconds()
		b.ReportMetric(rate, "delivered-events/s")
		b.ReportMetric(float64(percentile(lat, 0.50).Milliseconds()), "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Milliseconds()), "p99-ms")
		b.ReportMetric(rss, "peak-RSS-MB")
		b.ReportMetric(rawRate, "raw-put-events/s")
		b.ReportMetric(float64(bytesOut)/events, "bytes/event")
		b.Logf("%s end to end: %.1f bytes per event", format, float64(bytesOut)/events)
		b.Logf("end to end: %d events in %v (ingest done at %v): %.0f events/s delivered in %d files (%.1f MB); receipt->written p50 %v p99 %v; server peak RSS %.0f MB",
			events, elapsed.Round(time.Millisecond), ingested.Round(time.Millisecond), rate, objects, float64(bytesOut)/1e6,
			percentile(lat, 0.5).Round(time.Millisecond), percentile(lat, 0.99).Round(time.Millisecond), rss)
		b.Logf("raw MinIO PUT of %d objects of the same sizes (%.1f MB, 8 writers): %v = %.0f objects/s, %.0f MB/s, i.e. %.0f events/s",
			objects, float64(bytesOut)/1e6, rawElapsed.Round(time.Millisecond), float64(objects)/rawElapsed.Seconds(),
			float64(bytesOut)/1e6/rawElapsed.Seconds(), rawRate)
	}
}

// latencies returns, for every event of the mapping's delivered files, the
// time from its receipt to its file being written, sorted; and the files'
// count and bytes.
func (p *pipeline) latencies(tb testing.TB, m *store.Mapping) ([]time.Duration, int, int64) {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(p.DataDir, "s3relay.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var lat []time.Duration
	var n int
	var total int64
	f := store.DeliveryFilter{MappingID: m.ID, Page: store.Page{Limit: store.MaxPageLimit}}
	for {
		ds, next, err := db.ListDeliveries(ctx, f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range ds {
			n++
			total += d.Bytes
			db.DeliveryEvents(ctx, d.ID, 0, func(ev *store.Event) error {
				lat = append(lat, d.DeliveredAt.Sub(ev.ReceivedAt))
				return nil
			})
		}
		if next == "" {
			break
		}
		f.Before = next
	}
	sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
	return lat, n, total
}

// rawPuts writes objects of the same count and total size straight to
// MinIO with 8 writers, through the same client and PUT options as the engine.
func (p *pipeline) rawPuts(tb testing.TB, objects int, total int64) time.Duration {
	tb.Helper()
	ctx := context.Background()
	client, err := s3.New(ctx, s3.Config{Bucket: p.Bucket, Region: p.MinIO.Region, Auth: s3.AuthKeys, Endpoint: p.MinIO.Endpoint,
		ForcePathStyle: true, AccessKey: p.MinIO.AccessKey, Secret: p.MinIO.SecretKey, StorageClass: "STANDARD"})
	if err != nil {
		tb.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), int(total/int64(max(objects, 1))))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= objects {
					return
				}
				if _, err := client.Put(ctx, s3.PutInput{Key: fmt.Sprintf("raw-put/%d", i), Body: bytes.NewReader(body), ContentType: "text/csv"}); err != nil {
					tb.Errorf("raw put: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkBacklog stores 1,000,000 events in a data dir with the server
// stopped, then starts it and reports its peak memory (RSS) while it drains
// the backlog into 1,000-event files, and the catch-up rate. Target: under
// 300 MB.
func BenchmarkBacklog(b *testing.B) {
	const events = 1000000
	for i := 0; i < b.N; i++ {
		m := &store.Mapping{Name: "backlog", Format: "jsonl", Folder: "backlog", Trigger: `type = "track"`, BatchSize: 1000, BatchMaxAgeSeconds: 5}
		p := mustPipeline(b, m)
		ctx := context.Background()
		db, err := store.Open(ctx, filepath.Join(p.DataDir, "s3relay.db"))
		if err != nil {
			b.Fatal(err)
		}
		app := db.NewAppender()
		actx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- app.Run(actx) }()
		now := time.Now()
		for j := 0; j < events; j += 10000 {
			msgs := make([]*store.Message, 0, 10000)
			for k := j; k < j+10000; k++ {
				body := fmt.Sprintf(`{"type":"track","messageId":"bl-%d","userId":"u%d","event":"Page Viewed","properties":{"n":%d,"path":"/docs/%d"},"receivedAt":"2026-03-01T12:00:00.000Z","timestamp":"2026-03-01T12:00:00.000Z"}`, k, k%1000, k, k%50)
				msgs = append(msgs, &store.Message{ID: fmt.Sprintf("bl-%d", k), Kind: store.KindSegment, Type: "track", Name: "Page Viewed", Timestamp: now, Body: []byte(body)})
			}
			if _, err := app.Append(ctx, p.Source.ID, now, msgs, nil); err != nil {
				b.Fatal(err)
			}
		}
		backlog, err := db.Backlog(ctx)
		stop()
		<-done
		db.Close()
		if err != nil || backlog != events {
			b.Fatalf("backlog %d, %v; want %d", backlog, err, events)
		}
		b.ResetTimer()
		start := time.Now()
		s := startServer(b, p.DataDir)
		p.waitAllDelivered(b, m, events, 10*time.Minute)
		elapsed := time.Since(start)
		b.StopTimer()
		rss := peakRSS(b, s.cmd.Process.Pid)
		s.stop(b, syscall.SIGTERM)
		b.ReportMetric(rss, "peak-RSS-MB")
		b.ReportMetric(float64(events)/elapsed.Seconds(), "catch-up-events/s")
		b.Logf("backlog of %d events drained in %v (%.0f events/s); server peak RSS %.0f MB", events, elapsed.Round(time.Millisecond),
			float64(events)/elapsed.Seconds(), rss)
	}
}
