package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

const (
	// homeRateWindow is the period the overview averages events per minute over.
	homeRateWindow = 5 * time.Minute
	// homeChartHours is how many hours the throughput chart shows.
	homeChartHours = 24
	// homeChartTTL is how long a computed chart is reused: its query reads a
	// day of deliveries, and an hourly chart barely moves in a minute.
	homeChartTTL = time.Minute
)

// throughputCache keeps the overview's chart for homeChartTTL.
type throughputCache struct {
	mu     sync.Mutex
	start  time.Time
	at     time.Time
	points []store.ThroughputPoint
}

// get returns the chart starting at start, computing it when the cached one
// is older than the TTL or starts elsewhere.
func (tc *throughputCache) get(ctx context.Context, db *store.DB, start, now time.Time) ([]store.ThroughputPoint, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.points != nil && tc.start.Equal(start) && now.Sub(tc.at) < homeChartTTL {
		return tc.points, nil
	}
	pts, err := db.Throughput(ctx, start, time.Hour, homeChartHours)
	if err != nil {
		return nil, err
	}
	tc.start, tc.at, tc.points = start, now, pts
	return pts, nil
}

func (s *Server) handleHome(c echo.Context) error {
	ctx := c.Request().Context()
	sources, err := s.db.CountSources(ctx)
	if err != nil {
		return err
	}
	dir, err := s.loadDeliveryDirectory(ctx)
	if err != nil {
		return err
	}
	now := s.db.Now()
	v := views.HomeView{Page: s.page(c, "Overview", "home"), Sources: sources, Destinations: len(dir.destinations)}
	if sources > 0 {
		first, _, err := s.db.ListSources(ctx, store.Page{Limit: 1})
		if err != nil {
			return err
		}
		if len(first) > 0 {
			v.SnippetsURL = "/sources/" + first[0].ID + "#setup"
		}
	}
	if len(dir.destinations) > 0 {
		stats, err := s.db.DestinationStats(ctx, now.Add(-homeRateWindow))
		if err != nil {
			return err
		}
		for _, d := range dir.destinations {
			a := views.DestinationActivity{ID: d.ID, Name: d.Name, Enabled: d.Enabled, Health: d.Health}
			if st := stats[d.ID]; st != nil {
				a.LastDeliveredAt, a.Waiting, a.Failed = st.LastDeliveredAt, st.Waiting, st.Failed
				a.PerMinute = float64(st.Received) / homeRateWindow.Minutes()
			}
			v.Activity = append(v.Activity, a)
			if al := destinationAlert(d, a.Failed); al.Shown() {
				v.Alerts = append(v.Alerts, al)
			}
		}
		start := now.UTC().Truncate(time.Hour).Add(-(homeChartHours - 1) * time.Hour)
		pts, err := s.throughput.get(ctx, s.db, start, now)
		if err != nil {
			return err
		}
		for _, p := range pts {
			v.Throughput = append(v.Throughput, views.ThroughputBar{Start: p.Start, End: p.End, Events: p.Events, Files: p.Files})
		}
	}
	return s.render(c, http.StatusOK, views.Home(v))
}
