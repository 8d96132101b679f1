package main_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	segment "github.com/segmentio/analytics-go/v3"

	"github.com/s3relay/s3relay/store"
)

// downloadParquet copies every object under prefix into a directory, keys
// as paths, for DuckDB to read as a data lake would; it checks that each is
// a .parquet file with parquet's Content-Type and no Content-Encoding.
func (p *pipeline) downloadParquet(tb testing.TB, prefix string) (string, int) {
	tb.Helper()
	dir := tb.TempDir()
	keys := p.MinIO.MustListKeys(tb, p.Bucket, prefix)
	for _, key := range keys {
		if !strings.HasSuffix(key, ".parquet") {
			tb.Errorf("%s: want a .parquet key", key)
		}
		head := p.MinIO.MustHeadObject(tb, p.Bucket, key)
		if got := *head.ContentType; got != "application/vnd.apache.parquet" {
			tb.Errorf("%s: Content-Type %q, want application/vnd.apache.parquet", key, got)
		}
		if head.ContentEncoding != nil && *head.ContentEncoding != "" {
			tb.Errorf("%s: Content-Encoding %q, want none", key, *head.ContentEncoding)
		}
		path := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, p.MinIO.MustGetObject(tb, p.Bucket, key), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir, len(keys)
}

func openDuck(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// duckIDs counts the message ids of every parquet file under dir, read by
// DuckDB.
func duckIDs(tb testing.TB, dir string) map[string]int {
	tb.Helper()
	rows, err := openDuck(tb).Query(`SELECT message_id, count(*) FROM read_parquet(?) GROUP BY message_id`, filepath.Join(dir, "**", "*.parquet"))
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			tb.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// Events sent by analytics-go through the binary land in parquet files,
// under hive folders by default, that DuckDB reads with typed columns and
// the folders as dt and hour partition columns.
func TestParquetSegmentClientEndToEnd(t *testing.T) {
	cols := []store.Column{
		{Name: "message_id", Value: "$.messageId"}, {Name: "event_name", Value: "$.event"}, {Name: "user_id", Value: "$.userId"},
		{Name: "timestamp", Value: "$.timestamp"}, {Name: "properties", Value: "$.properties"},
		{Name: "n", Value: "$.properties.i", Type: "int64"}, {Name: "price", Value: "$.properties.price", Type: "double"},
		{Name: "vip", Value: "$.properties.vip", Type: "boolean"}, {Name: "big", Value: "$.properties.big", Type: "int64"},
		{Name: "big_text", Value: "$.properties.big", Type: "string"},
	}
	m := &store.Mapping{Name: "lake", Format: "parquet", Folder: "lake", Trigger: `type = "track"`, BatchSize: 2000, BatchMaxAgeSeconds: 1, Columns: cols}
	p := mustPipeline(t, m)
	s := startServer(t, p.DataDir)
	client, err := segment.NewWithConfig(p.Source.WriteKey, segment.Config{Endpoint: s.URL, BatchSize: 250, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Millisecond)
	const n = 5000
	for i := range n {
		props := segment.NewProperties().Set("i", i).Set("price", float64(i)/4).Set("vip", i%2 == 0).Set("note", "é \"q\"\nline")
		if i%100 == 0 {
			props.Set("big", uint64(1)<<63)
		}
		if err := client.Enqueue(segment.Track{MessageId: fmt.Sprintf("pq-%05d", i), UserId: fmt.Sprintf("u%d", i%10), Event: "Order Completed",
			Timestamp: base.Add(-time.Duration(i) * time.Millisecond), Properties: props}); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	p.waitAllDelivered(t, m, n, 90*time.Second)
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}
	dir, files := p.downloadParquet(t, "lake/")
	ids := duckIDs(t, dir)
	if len(ids) != n {
		t.Errorf("%d distinct ids in %d files, want %d", len(ids), files, n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("%s is in the files %d times", id, c)
		}
	}
	db := openDuck(t)
	var rows, sumN, bigNulls, bigTexts, badHive int
	var sumPrice float64
	var first time.Time
	err = db.QueryRow(`SELECT count(*), sum(n), sum(price), count(*) FILTER (WHERE big IS NULL),
			count(*) FILTER (WHERE big_text = '9223372036854775808'),
			count(*) FILTER (WHERE dt <> strftime("timestamp", '%Y-%m-%d') AND dt <> strftime(now()::TIMESTAMP, '%Y-%m-%d') OR hour IS NULL),
			max("timestamp")
		FROM read_parquet(?, hive_partitioning = true)`, filepath.Join(dir, "**", "*.parquet")).Scan(&rows, &sumN, &sumPrice, &bigNulls, &bigTexts, &badHive, &first)
	if err != nil {
		t.Fatal(err)
	}
	if rows != n || sumN != n*(n-1)/2 || sumPrice != float64(n*(n-1)/2)/4 {
		t.Errorf("got %d rows, sum(n) %d, sum(price) %v; want %d, %d, %v", rows, sumN, sumPrice, n, n*(n-1)/2, float64(n*(n-1)/2)/4)
	}
	if bigNulls != n || bigTexts != n/100 {
		t.Errorf("2^63: %d nulls in the int64 column (want all %d), %d exact in the string column (want %d)", bigNulls, n, bigTexts, n/100)
	}
	if badHive != 0 {
		t.Errorf("%d rows without their hive partition columns dt and hour", badHive)
	}
	if !first.Equal(base) {
		t.Errorf("latest timestamp: got %v, want %v (milliseconds, UTC)", first, base)
	}
	t.Logf("%d events in %d parquet files", n, files)
}

// TestParquetSIGKILLRoundsExactlyOnce kills the server at random moments
// while clients send and the engine writes parquet files, several times;
// after a final run every acknowledged event is in exactly one file, as
// DuckDB reads them: a file is rebuilt from its sealed events, byte for
// byte, whenever an attempt is cut short.
func TestParquetSIGKILLRoundsExactlyOnce(t *testing.T) {
	m := &store.Mapping{Name: "all", Format: "parquet", Trigger: `type = "track"`, BatchSize: 300, BatchMaxAgeSeconds: 1,
		Columns: []store.Column{{Name: "message_id", Value: "$.messageId"}, {Name: "event_name", Value: "$.event"}, {Name: "received_at", Value: "$.receivedAt"}}}
	p := mustPipeline(t, m)
	acked := map[string]bool{}
	const rounds = 4
	for round := 0; round < rounds; round++ {
		s := startServer(t, p.DataDir)
		stop := sendBatches(s.URL, p.Source.WriteKey, fmt.Sprintf("k%d", round), 4, 50, 20*time.Millisecond, acked)
		time.Sleep(time.Duration(700+rand.IntN(1500)) * time.Millisecond)
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
		stop()
	}
	s := startServer(t, p.DataDir)
	p.waitAllDelivered(t, m, len(acked), 60*time.Second)
	s.stop(t, syscall.SIGTERM)

	dir, files := p.downloadParquet(t, "")
	ids := duckIDs(t, dir)
	missing := 0
	for id := range acked {
		if ids[id] == 0 {
			missing++
		}
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s is in %d rows", id, n)
		}
	}
	t.Logf("%d rounds: %d acknowledged events, %d in %d parquet files", rounds, len(acked), len(ids), files)
	if missing > 0 {
		t.Errorf("%d acknowledged events are in no file", missing)
	}
}
