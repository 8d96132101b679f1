package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3relay/s3relay/store"
)

type metrics struct {
	routed     prometheus.Counter
	sealed     prometheus.Counter
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
	backlog    prometheus.GaugeFunc
}

func newMetrics(db *store.DB) *metrics {
	return &metrics{
		backlog: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3relay_backlog_events", Help: "Events waiting for delivery: not yet routed, or in files not yet written.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := db.Backlog(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}),
		routed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3relay_engine_events_routed_total", Help: "Events the engine has looked at for routing.",
		}),
		sealed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "s3relay_deliveries_sealed_total", Help: "Files sealed (key and events fixed) for upload.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3relay_delivery_attempts_total", Help: "Upload attempts by the status they left the delivery in.",
		}, []string{"status"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3relay_delivery_latency_seconds",
			Help:    "Time from sealing a file to having it written to S3.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.routed, m.sealed, m.deliveries, m.latency, m.backlog}
}
