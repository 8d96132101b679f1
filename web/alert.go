package web

import (
	"context"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// destinationAlert is the banner of destination d with failed files.
func destinationAlert(d *store.Destination, failed int64) views.DestinationAlert {
	a := views.DestinationAlert{DestinationID: d.ID, Name: d.Name, Failed: failed}
	if d.Health == store.HealthRetrying || d.Health == store.HealthUnhealthy {
		a.Health, a.Code, a.Message, a.Failures, a.Since = d.Health, d.HealthCode, d.HealthMessage, d.HealthFailures, d.HealthChangedAt
	}
	return a
}

// destinationAlerts returns the banners of the destinations ds that have
// something to show.
func (s *Server) destinationAlerts(ctx context.Context, ds []*store.Destination) ([]views.DestinationAlert, error) {
	failed, err := s.db.FailedCounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []views.DestinationAlert
	for _, d := range ds {
		if a := destinationAlert(d, failed[d.ID]); a.Shown() {
			out = append(out, a)
		}
	}
	return out, nil
}
