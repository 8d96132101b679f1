package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// destinationPageDeliveries is how many of its latest deliveries a
// destination's page lists.
const destinationPageDeliveries = 10

// handleDestinationShow is a destination's own page: health and its latest
// error, last test, backlog and rate, latest deliveries and each mapping's
// deliveries, with links to edit it.
func (s *Server) handleDestinationShow(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	v := views.DestinationPageView{
		Page: s.page(c, d.Name, "destinations"), ID: d.ID, Name: d.Name, Enabled: d.Enabled,
		Bucket: "s3://" + d.Config.Bucket + "/" + d.Config.PathPrefix, Region: d.Config.Region,
		Health: d.Health, HealthMessage: d.HealthMessage, HealthCode: d.HealthCode, HealthFailures: d.HealthFailures,
		Test:         lastTestView(d),
		SettingsHref: stepURL(d.ID, "name"), MappingsHref: mappingsURL(d.ID), TestHref: stepURL(d.ID, "test"),
		DeliveriesHref: "/deliveries?" + url.Values{"destination_id": {d.ID}}.Encode(),
	}
	if d.WizardStep != "" && stepIndex(d.WizardStep) >= 0 {
		v.SetupHref = stepURL(d.ID, d.WizardStep)
	}
	stats, err := s.db.DestinationStats(ctx, s.db.Now().Add(-homeRateWindow))
	if err != nil {
		return err
	}
	if st := stats[d.ID]; st != nil {
		v.Waiting, v.Failed, v.LastDeliveredAt = st.Waiting, st.Failed, st.LastDeliveredAt
		v.PerMinute = float64(st.Received) / homeRateWindow.Minutes()
	}
	v.Alert = destinationAlert(d, v.Failed)
	ds, _, err := s.db.ListDeliveries(ctx, store.DeliveryFilter{DestinationID: d.ID, Page: store.Page{Limit: destinationPageDeliveries}})
	if err != nil {
		return err
	}
	for _, dl := range ds {
		v.Deliveries = append(v.Deliveries, views.DestinationDeliveryRow{ID: dl.ID, Key: dl.Key, Status: dl.Status, Test: dl.Test,
			Events: dl.Events, CreatedAt: dl.CreatedAt, ErrorCode: dl.LastErrorCode})
	}
	ms, err := s.db.ListMappings(ctx, d.ID)
	if err != nil {
		return err
	}
	byMapping, err := s.db.MappingDeliveryStatsOf(ctx, d.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		row := views.DestinationMappingRow{Name: m.Name, EditURL: mappingURL(d.ID, m.ID), Enabled: m.Enabled}
		if st := byMapping[m.ID]; st != nil {
			row.Files, row.Events, row.Failed, row.LastDeliveredAt = st.Files, st.Events, st.Failed, st.LastDeliveredAt
		}
		v.Mappings = append(v.Mappings, row)
	}
	return s.render(c, http.StatusOK, views.DestinationPage(v))
}
