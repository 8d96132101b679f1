package web_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3relay/s3relay/store"
)

// benchBatches builds n /v1/batch bodies of size events each, shaped like a
// typical analytics-go batch, with unique message ids.
func benchBatches(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		var b strings.Builder
		b.WriteString(`{"batch":[`)
		for j := 0; j < size; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"track","messageId":"bench-%d-%d","userId":"user-%d","event":"Order Completed",`+
				`"timestamp":"2026-03-01T12:00:00.000Z","properties":{"order_id":"o-%d","total":%d.95,"currency":"EUR","coupon":null,"products":[{"sku":"p-1","qty":2}]}}`,
				i, j, j%97, i*size+j, j)
		}
		b.WriteString(`],"context":{"library":{"name":"analytics-go","version":"3.3.0"}},"sentAt":"2026-03-01T12:00:01.000Z"}`)
		out[i] = []byte(b.String())
	}
	return out
}

// BenchmarkIngestBatch sends 100-event /v1/batch requests from concurrent
// clients over loopback and reports events/s; in the same run it measures the
// raw SQLite insert rate of the same rows (no HTTP, no JSON) and the ratio.
// Run with `make bench`; targets: 50,000 events/s and 25% of the raw rate.
func BenchmarkIngestBatch(b *testing.B) {
	const (
		requests = 2000
		size     = 100
		clients  = 8
	)
	bodies := benchBatches(requests, size)
	// The same garbage collector target as "s3relay serve" sets.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	var httpRate, rawRate float64
	for i := 0; i < b.N; i++ {
		httpRate = benchHTTP(b, bodies, clients)
		rawRate = benchRaw(b, bodies)
	}
	b.ReportMetric(httpRate, "events/s")
	b.ReportMetric(rawRate, "raw-sqlite-events/s")
	b.ReportMetric(100*httpRate/rawRate, "%-of-raw")
	b.Logf("ingest: %.0f events/s over HTTP with %d clients; raw SQLite insert of the same rows: %.0f events/s; ratio %.0f%%",
		httpRate, clients, rawRate, 100*httpRate/rawRate)
}

func benchHTTP(b *testing.B, bodies [][]byte, clients int) float64 {
	b.Helper()
	e := MustEnv(b)
	src := e.mustSource(b, "bench")
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, e.HTTP.URL+"/v1/batch", bytes.NewReader(bodies[i]))
				req.SetBasicAuth(src.WriteKey, "")
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
	n, err := e.DB.LastSeq(context.Background())
	if err != nil || n != int64(len(bodies)*100) {
		b.Fatalf("stored %d events, want %d (%v)", n, len(bodies)*100, err)
	}
	return float64(n) / elapsed.Seconds()
}

// benchRaw inserts the same normalized rows straight into SQLite, in
// transactions of 10,000 rows, on a database with the same schema and pragmas.
func benchRaw(b *testing.B, bodies [][]byte) float64 {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "raw.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	src := &store.Source{Name: "raw"}
	if err := db.CreateSource(ctx, src); err != nil {
		b.Fatal(err)
	}
	db.Close()
	var msgs []*store.Message
	for _, body := range bodies {
		req, err := store.ParseSegment(body, "batch", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, req.Messages...)
	}
	raw, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	now := time.Now().UnixMilli()
	start := time.Now()
	for i := 0; i < len(msgs); i += 10000 {
		tx, err := raw.Begin()
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.Prepare(`INSERT INTO events (source_id, message_id, kind, type, name, received_at, timestamp, size, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs[i:min(i+10000, len(msgs))] {
			if _, err := stmt.Exec(src.ID, m.ID, m.Kind, m.Type, m.Name, now, m.Timestamp.UnixMilli(), len(m.Body), m.Body); err != nil {
				b.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(len(msgs)) / time.Since(start).Seconds()
}
