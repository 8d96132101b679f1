package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// roleOf names the role a lease gives its holder.
var roleOf = map[string]string{store.RouterLease: "routing", store.RetentionLease: "retention"}

// replicaRoles are the roles of the leases r holds, in lease name order.
func replicaRoles(r *store.Replica) []string {
	roles := []string{}
	for _, l := range r.Leases {
		if role, ok := roleOf[l]; ok {
			roles = append(roles, role)
		}
	}
	return roles
}

func (s *Server) replicaRows(c echo.Context) ([]views.ReplicaRow, error) {
	rs, err := s.db.ListReplicas(c.Request().Context())
	if err != nil {
		return nil, err
	}
	now := s.db.Now()
	var out []views.ReplicaRow
	for _, r := range rs {
		out = append(out, views.ReplicaRow{ID: r.ID, Version: r.Version, Started: r.StartedAt, Seen: r.SeenAt, Status: r.Status(now),
			Roles: replicaRoles(r), Self: r.ID == s.cfg.Replica})
	}
	return out, nil
}

// apiReplica is a replica in GET /api/v1/replicas.
type apiReplica struct {
	ID        string     `json:"id"`
	Version   string     `json:"version"`
	Status    string     `json:"status"`
	Roles     []string   `json:"roles"`
	StartedAt time.Time  `json:"started_at"`
	SeenAt    time.Time  `json:"seen_at"`
	StoppedAt *time.Time `json:"stopped_at,omitempty"`
	// Self is the replica that answered.
	Self bool `json:"self"`
}

// handleAPIReplicaList lists the replicas that ran on the database in the
// last day, with their status and roles.
func (s *Server) handleAPIReplicaList(c echo.Context) error {
	rs, err := s.db.ListReplicas(c.Request().Context())
	if err != nil {
		return err
	}
	now := s.db.Now()
	out := listResponse[apiReplica]{Data: []apiReplica{}}
	for _, r := range rs {
		a := apiReplica{ID: r.ID, Version: r.Version, Status: r.Status(now), Roles: replicaRoles(r), StartedAt: r.StartedAt, SeenAt: r.SeenAt,
			Self: r.ID == s.cfg.Replica}
		if !r.StoppedAt.IsZero() {
			stopped := r.StoppedAt
			a.StoppedAt = &stopped
		}
		out.Data = append(out.Data, a)
	}
	return c.JSON(http.StatusOK, out)
}
