package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/s3"
	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// DestinationTester runs destinations' connection tests and knows the
// server's own AWS identity; delivery.Tester is the implementation.
type DestinationTester interface {
	// Test runs the connection test of a stored destination and records it
	// as its last test. Returns ENOTFOUND.
	Test(ctx context.Context, id string) (store.TestResult, error)
	// ServerIdentity is the server's AWS identity, for trust policies.
	ServerIdentity(ctx context.Context) (s3.Identity, error)
	// Forget drops the cached S3 client of a changed or deleted destination.
	Forget(id string)
}

// wizardStep is one step of the destination setup wizard. The steps are a
// table so that a feature can insert its own; views.DestinationWizard renders
// each by its key. A stored destination's step is at /destinations/:id/<key>:
// for "mappings" that is the mapping list's own route, which renders the
// step (handleMappingList), and the mapping editor shows the same frame.
type wizardStep struct {
	key   string
	title string
	// fields are the form fields the step edits: a validation error about one
	// of them is shown on this step.
	fields []string
	// read copies the step's fields from the submitted form into d; nil for
	// steps that do not edit fields.
	read func(form formValues, d *store.Destination) error
	// creates marks the step whose submission creates a new destination. The
	// steps before it carry their fields in hidden inputs.
	creates bool
}

var wizardSteps = []wizardStep{
	{key: "name", title: "Name and sources", fields: []string{"name", "source_ids"}, read: readNameStep},
	{key: "bucket", title: "Bucket and region", read: readBucketStep, fields: []string{
		"bucket", "region", "custom_region", "endpoint", "force_path_style", "path_prefix", "storage_class", "server_side_encryption", "kms_key_id", "delivery_metadata"}},
	{key: "access", title: "Access", read: readAccessStep, creates: true, fields: []string{
		"auth", "role_arn", "external_id", "key", "secret", "session"}},
	{key: "test", title: "Test connection"},
	{key: "mappings", title: "Mappings"},
	{key: "enable", title: "Enable"},
}

// stepIndex returns the position of a step in wizardSteps, -1 when unknown.
func stepIndex(key string) int {
	return slices.IndexFunc(wizardSteps, func(s wizardStep) bool { return s.key == key })
}

// ownerStep returns the step that edits a field, -1 when none does.
func ownerStep(field string) int {
	return slices.IndexFunc(wizardSteps, func(s wizardStep) bool { return slices.Contains(s.fields, field) })
}

func creatingStep() int {
	return slices.IndexFunc(wizardSteps, func(s wizardStep) bool { return s.creates })
}

// stepURL is the page of a stored destination's step.
func stepURL(id, key string) string { return "/destinations/" + url.PathEscape(id) + "/" + key }

// stepNav is the wizard's progress bar at step current. The steps of a
// stored destination link to their pages: they are its tabs.
func stepNav(stored *store.Destination, current int) []views.WizardStep {
	steps := make([]views.WizardStep, 0, len(wizardSteps))
	for i, st := range wizardSteps {
		ws := views.WizardStep{Key: st.key, Title: st.title, Current: i == current, Done: i < current}
		if stored != nil {
			ws.Href = stepURL(stored.ID, st.key)
		}
		steps = append(steps, ws)
	}
	return steps
}

// formValues is a submitted form.
type formValues map[string][]string

func (f formValues) get(name string) string {
	if v := f[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

func readNameStep(f formValues, d *store.Destination) error {
	d.Name = f.get("name")
	d.SourceIDs = []string{}
	for _, id := range f["source_ids"] {
		if id != "" && !slices.Contains(d.SourceIDs, id) {
			d.SourceIDs = append(d.SourceIDs, id)
		}
	}
	return nil
}

func readBucketStep(f formValues, d *store.Destination) error {
	c := &d.Config
	c.Bucket, c.Region, c.Endpoint = f.get("bucket"), f.get("region"), f.get("endpoint")
	c.ForcePathStyle = f.get("force_path_style") == "true" || f.get("force_path_style") == "on"
	c.PathPrefix, c.StorageClass = f.get("path_prefix"), f.get("storage_class")
	if bucket, prefix, ok := splitBucketPaste(c.Bucket); ok {
		c.Bucket = bucket
		if c.PathPrefix == "" {
			c.PathPrefix = prefix
		}
	}
	c.ServerSideEncryption, c.KMSKeyID = f.get("server_side_encryption"), f.get("kms_key_id")
	md, err := parseDeliveryMetadata(f.get("delivery_metadata"))
	if err != nil {
		return err
	}
	c.DeliveryMetadata = md
	if custom := f.get("custom_region"); custom != "" {
		if c.Endpoint == "" {
			return store.FieldErrorf("custom_region", "Region at the endpoint is used only with a custom Endpoint; for AWS, choose AWS Region.")
		}
		c.Region = custom
	}
	return nil
}

// splitBucketPaste reads what users paste into AWS Bucket Name: an S3 URL
// (s3://bucket/some/prefix/) or a bucket ARN (arn:aws:s3:::bucket/prefix),
// as the AWS console copies them. ok is false for a plain bucket name.
func splitBucketPaste(text string) (bucket, prefix string, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(strings.ToLower(text), "s3://"):
		rest = text[len("s3://"):]
	case strings.HasPrefix(text, "arn:"):
		// arn:<partition>:s3:::bucket[/prefix], in any partition.
		parts := strings.SplitN(text, ":", 6)
		if len(parts) != 6 || parts[2] != "s3" || parts[3] != "" || parts[4] != "" {
			return "", "", false
		}
		rest = parts[5]
	default:
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.TrimLeft(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, bucket != ""
}

// bucketPasteNote says how a pasted S3 URL or ARN was read, for the flash
// after the bucket step; "" when a plain name was typed.
func bucketPasteNote(f formValues, c store.DestinationConfig) string {
	typed := f.get("bucket")
	if _, _, ok := splitBucketPaste(typed); !ok {
		return ""
	}
	note := "Read " + typed + " as bucket " + c.Bucket
	if c.PathPrefix != "" {
		note += " with Path Prefix " + c.PathPrefix
	}
	return note + "."
}

// parseDeliveryMetadata reads the wizard's delivery metadata field: one
// name=value a line; blank lines are skipped.
func parseDeliveryMetadata(text string) (map[string]string, error) {
	md := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, store.FieldErrorf("delivery_metadata", "Line %d: write one name=value a line, e.g. team=analytics.", i+1)
		}
		if _, dup := md[name]; dup {
			return nil, store.FieldErrorf("delivery_metadata", "Line %d: %q is already set above.", i+1, name)
		}
		md[name] = value
	}
	return md, nil
}

// formatDeliveryMetadata writes delivery metadata for the wizard's field,
// sorted by name.
func formatDeliveryMetadata(md map[string]string) string {
	lines := make([]string, 0, len(md))
	for k, v := range md {
		lines = append(lines, k+"="+v)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func readAccessStep(f formValues, d *store.Destination) error {
	c := &d.Config
	c.Auth = f.get("auth")
	c.RoleARN = ""
	switch c.Auth {
	case store.AuthRole:
		c.RoleARN = f.get("role_arn")
		if x := f.get("external_id"); x != "" {
			d.Credentials.ExternalID = x
		}
	case store.AuthKeys:
		// Blank secrets keep what is stored: they are never shown again.
		if k := f.get("key"); k != "" {
			d.Credentials.Key = k
		}
		if v := f["secret"]; len(v) > 0 && v[0] != "" {
			d.Credentials.Secret = v[0]
		}
		if v := f["session"]; len(v) > 0 && v[0] != "" {
			d.Credentials.Session = strings.TrimSpace(v[0])
		}
	}
	return nil
}

// wizard is one rendering of a wizard step.
type wizard struct {
	step int
	// d holds what the form shows: what was typed, else what is stored.
	d *store.Destination
	// stored is the destination as stored; nil before it is created.
	stored *store.Destination
	errs   views.FormErrors
	// typed is the submitted form (or a new destination's draft): fields
	// whose stored form loses what was typed show it again from here.
	typed formValues
}

func (s *Server) handleDestinationList(c echo.Context) error {
	ctx := c.Request().Context()
	ds, _, err := s.db.ListDestinations(ctx, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		return err
	}
	names, err := s.sourceNames(ctx)
	if err != nil {
		return err
	}
	byDest, err := s.db.MappingsByDestination(ctx)
	if err != nil {
		return err
	}
	v := views.DestinationsView{Page: s.page(c, "Destinations", "destinations")}
	if v.Alerts, err = s.destinationAlerts(ctx, ds); err != nil {
		return err
	}
	for _, d := range ds {
		row := views.DestinationRow{
			ID: d.ID, Name: d.Name, Bucket: d.Config.Bucket, PathPrefix: d.Config.PathPrefix, Region: d.Config.Region,
			Endpoint: d.Config.Endpoint, Enabled: d.Enabled, Health: d.Health, HealthMessage: d.HealthMessage,
			HealthCode: d.HealthCode, HealthFailures: d.HealthFailures, LastTest: lastTestView(d),
		}
		for _, id := range d.SourceIDs {
			row.Sources = append(row.Sources, names[id])
		}
		if d.WizardStep != "" && stepIndex(d.WizardStep) >= 0 {
			row.SetupHref = stepURL(d.ID, d.WizardStep)
		}
		ms := byDest[d.ID]
		row.Mappings, row.EnabledMappings, row.MappingsHref = len(ms), enabledCount(ms), mappingsURL(d.ID)
		v.Rows = append(v.Rows, row)
	}
	return s.render(c, http.StatusOK, views.Destinations(v))
}

func (s *Server) sourceNames(ctx context.Context) (map[string]string, error) {
	srcs, _, err := s.db.ListSources(ctx, store.Page{Limit: store.MaxPageLimit})
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(srcs))
	for _, src := range srcs {
		names[src.ID] = src.Name
	}
	return names, nil
}

// handleDestinationNew starts the wizard for a new destination from blank
// fields, at the first step's own address.
func (s *Server) handleDestinationNew(c echo.Context) error {
	s.clearDraft(c)
	return c.Redirect(http.StatusSeeOther, "/destinations/new/"+wizardSteps[0].key)
}

// draftDestination reads a draft's fields into a destination.
func draftDestination(f formValues) *store.Destination {
	d := &store.Destination{Type: store.TypeAWSS3}
	for i := 0; i <= creatingStep(); i++ {
		_ = wizardSteps[i].read(f, d)
	}
	return d
}

// handleDestinationNewShow shows a step of a destination that does not exist
// yet with the draft's values: what Back, Forward and reload open. Once the
// draft's destination was created, its own step opens instead.
func (s *Server) handleDestinationNewShow(c echo.Context) error {
	idx := stepIndex(c.Param("step"))
	if idx < 0 || idx > creatingStep() {
		return echo.ErrNotFound
	}
	draft := s.readDraft(c)
	if id := draft.get(draftCreated); id != "" {
		if _, err := s.db.DestinationByID(c.Request().Context(), id); err == nil {
			return c.Redirect(http.StatusSeeOther, stepURL(id, wizardSteps[idx].key))
		}
		delete(draft, draftCreated)
	}
	if wizardSteps[idx].key == "access" && draft.get("external_id") == "" {
		// The external ID shown is kept, so that a reload shows the same
		// policies and the one stored is the one shown.
		draft["external_id"] = []string{store.NewExternalID()}
		s.saveDraft(c, draft)
	}
	w := wizard{step: idx, d: draftDestination(draft), typed: draft}
	return s.renderWizard(c, http.StatusOK, w)
}

// handleDestinationNewStep takes a step of a destination that does not exist
// yet. The draft keeps the other steps' fields (secrets excepted); each step
// is validated when it is submitted and answers with a redirect to the next
// step's address, and the creating step stores the destination (turned off)
// and continues with it.
func (s *Server) handleDestinationNewStep(c echo.Context) error {
	idx := stepIndex(c.Param("step"))
	if idx < 0 || idx > creatingStep() {
		return echo.ErrNotFound
	}
	form, err := c.FormParams()
	if err != nil {
		return store.Errorf(store.EINVALID, "The form could not be read.")
	}
	f := mergeDraft(s.readDraft(c), formValues(form), wizardSteps[idx])
	s.saveDraft(c, f)
	d := &store.Destination{Type: store.TypeAWSS3}
	var readErr error
	// Later steps' fields travel too, after Back; they are checked when
	// their own step is submitted.
	for i := 0; i <= creatingStep(); i++ {
		if err := wizardSteps[i].read(f, d); i <= idx {
			readErr = cmp.Or(readErr, err)
		}
	}
	if f.get("_back") != "" {
		// Back keeps what was typed on this step without checking it.
		return c.Redirect(http.StatusSeeOther, "/destinations/new/"+wizardSteps[max(idx-1, 0)].key)
	}
	w := wizard{step: idx, d: d, typed: f}
	if readErr != nil {
		return s.renderWizardError(c, w, readErr)
	}
	if err := s.validateThrough(c.Request().Context(), d, idx); err != nil {
		return s.renderWizardError(c, w, err)
	}
	note := bucketPasteNote(f, d.Config)
	if idx < creatingStep() {
		next := "/destinations/new/" + wizardSteps[idx+1].key
		if note != "" {
			return s.redirectWithFlash(c, next, note)
		}
		return c.Redirect(http.StatusSeeOther, next)
	}
	d.Enabled = false
	d.WizardStep = wizardSteps[idx+1].key
	if err := s.db.CreateDestination(c.Request().Context(), d); err != nil {
		return s.renderWizardError(c, w, err)
	}
	f[draftCreated] = []string{d.ID}
	s.saveDraft(c, f)
	s.log.Info("destination created", "destination", d.ID, "name", d.Name, "by", actor(c))
	return s.redirectWithFlash(c, "/destinations/"+d.ID+"/"+d.WizardStep,
		strings.TrimSpace(note+" Destination “"+d.Name+"” saved, turned off for now. Test the connection next."))
}

// validateThrough checks the fields of the steps up to idx of a destination
// that does not exist yet: later steps' fields get valid stand-ins, so that
// only what has been typed can fail.
func (s *Server) validateThrough(ctx context.Context, d *store.Destination, idx int) error {
	probe := *d
	if idx < stepIndex("access") {
		// Access keys, unlike the server's own credentials, go with any
		// endpoint; blank keys pass until the access step is submitted.
		probe.Config.Auth, probe.Config.RoleARN, probe.Credentials = store.AuthKeys, "", store.Credentials{}
	}
	if idx < stepIndex("bucket") {
		probe.Config = store.DestinationConfig{Bucket: "stand-in", Region: "us-east-1", Auth: store.AuthDefault}
	}
	if err := s.db.ValidateDestination(&probe); err != nil {
		return err
	}
	names, err := s.sourceNames(ctx)
	if err != nil {
		return err
	}
	for _, id := range d.SourceIDs {
		if _, ok := names[id]; !ok {
			return store.FieldErrorf("source_ids", "A chosen source no longer exists; choose again.")
		}
	}
	return nil
}

// handleDestinationStep shows a step of an existing destination.
func (s *Server) handleDestinationStep(c echo.Context) error {
	idx := stepIndex(c.Param("step"))
	if idx < 0 {
		return echo.ErrNotFound
	}
	d, err := s.db.DestinationByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.noteSetupProgress(c.Request().Context(), d, idx); err != nil {
		return err
	}
	return s.renderWizard(c, http.StatusOK, wizard{step: idx, d: d, stored: d})
}

// noteSetupProgress records that the unfinished setup of d has reached step
// idx, so that "Continue setup" opens the furthest step reached. Going back
// to an earlier step does not move it back.
func (s *Server) noteSetupProgress(ctx context.Context, d *store.Destination, idx int) error {
	if d.WizardStep == "" || idx <= stepIndex(d.WizardStep) {
		return nil
	}
	d.WizardStep = wizardSteps[idx].key
	return s.db.SetWizardStep(ctx, d.ID, d.WizardStep)
}

// handleDestinationSaveStep saves the fields of one step of an existing
// destination and moves on to the next step.
func (s *Server) handleDestinationSaveStep(c echo.Context) error {
	idx := stepIndex(c.Param("step"))
	if idx < 0 || wizardSteps[idx].read == nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	stored, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return store.Errorf(store.EINVALID, "The form could not be read.")
	}
	d := *stored
	d.SourceIDs = slices.Clone(stored.SourceIDs)
	w := wizard{step: idx, d: &d, stored: stored, typed: formValues(form)}
	if err := wizardSteps[idx].read(formValues(form), &d); err != nil {
		return s.renderWizardError(c, w, err)
	}
	if err := s.db.UpdateDestination(ctx, &d); err != nil {
		return s.renderWizardError(c, w, err)
	}
	s.destinations.Forget(d.ID)
	msg := "Saved."
	if note := bucketPasteNote(formValues(form), d.Config); note != "" {
		msg = note + " " + msg
	}
	return s.redirectWithFlash(c, "/destinations/"+d.ID+"/"+wizardSteps[idx+1].key, msg)
}

// handleDestinationTest runs the connection test: in place for htmx, else
// back to the test step, which shows the result.
func (s *Server) handleDestinationTest(c echo.Context) error {
	id := c.Param("id")
	res, err := s.destinations.Test(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		d, err := s.db.DestinationByID(c.Request().Context(), id)
		if err != nil {
			return err
		}
		return s.render(c, http.StatusOK, views.TestResult(testResultView(&res, d.Config.Auth)))
	}
	msg := "Connection test passed."
	if !res.OK {
		msg = "Connection test failed: see the failed step below."
	}
	return s.redirectWithFlash(c, "/destinations/"+id+"/test", msg)
}

// handleDestinationEnable is the wizard's last step: it finishes the setup and
// turns delivery on or off.
func (s *Server) handleDestinationEnable(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	d.Enabled = c.FormValue("enabled") == "true"
	d.WizardStep = ""
	if err := s.db.UpdateDestination(ctx, d); err != nil {
		return s.renderWizardError(c, wizard{step: stepIndex("enable"), d: d, stored: d}, err)
	}
	s.destinations.Forget(d.ID)
	s.log.Info("destination saved", "destination", d.ID, "enabled", d.Enabled, "by", actor(c))
	ms, err := s.db.ListMappings(ctx, d.ID)
	if err != nil {
		return err
	}
	msg := "Destination “" + d.Name + "” is on: events are delivered to it."
	switch {
	case !d.Enabled:
		msg = "Destination “" + d.Name + "” is saved and turned off: events wait until it is turned on."
	case enabledCount(ms) == 0:
		msg = "Destination “" + d.Name + "” is on, but no events are delivered to it until it has an enabled mapping."
	}
	return s.redirectWithFlash(c, "/destinations", msg)
}

// handleDestinationToggle turns a destination on or off from the list.
func (s *Server) handleDestinationToggle(c echo.Context) error {
	id, on := c.Param("id"), c.FormValue("enabled") == "true"
	if err := s.db.SetDestinationEnabled(c.Request().Context(), id, on); err != nil {
		return err
	}
	d, err := s.db.DestinationByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	s.log.Info("destination turned on or off", "destination", id, "enabled", on, "by", actor(c))
	state := "off"
	if on {
		state = "on"
	}
	return s.redirectWithFlash(c, "/destinations", "Destination “"+d.Name+"” turned "+state+".")
}

func (s *Server) handleDestinationDeleteForm(c echo.Context) error {
	d, err := s.db.DestinationByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.DestinationDelete(views.DestinationDeleteView{
		Page: s.page(c, "Delete destination", "destinations"), ID: d.ID, Name: d.Name,
	}))
}

func (s *Server) handleDestinationDelete(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.db.DeleteDestination(ctx, d.ID); err != nil {
		return err
	}
	s.destinations.Forget(d.ID)
	s.log.Info("destination deleted", "destination", d.ID, "name", d.Name, "by", actor(c))
	return s.redirectWithFlash(c, "/destinations", "Destination “"+d.Name+"” deleted.")
}

// handleAccessHelp re-renders the AWS CLI commands of the access step as the
// IAM Role ARN is typed.
func (s *Server) handleAccessHelp(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return store.Errorf(store.EINVALID, "The form could not be read.")
	}
	d := &store.Destination{}
	if id := c.Param("id"); id != "" {
		if d, err = s.db.DestinationByID(c.Request().Context(), id); err != nil {
			return err
		}
	} else {
		// A new destination's earlier steps travel in the form; a field that
		// does not validate yet still gives useful commands.
		_ = readNameStep(formValues(form), d)
		_ = readBucketStep(formValues(form), d)
	}
	// The commands are for role mode, whichever mode is chosen so far.
	d.Config.RoleARN = formValues(form).get("role_arn")
	if x := formValues(form).get("external_id"); x != "" {
		d.Credentials.ExternalID = x
	}
	return s.render(c, http.StatusOK, views.AccessCLI(s.accessHelp(c.Request().Context(), d)))
}

// renderWizardError re-renders a step with a validation error next to its
// field, on the step that edits the field; other errors go to the error page.
func (s *Server) renderWizardError(c echo.Context, w wizard, err error) error {
	if store.ErrorCode(err) != store.EINVALID {
		return err
	}
	field := store.ErrorField(err)
	if field == "region" && w.d.Config.Endpoint != "" && !store.IsAWSRegion(w.d.Config.Region) {
		field = "custom_region"
	}
	if field == "auth" && w.step == stepIndex("bucket") && w.d.Config.Endpoint != "" {
		// Adding an endpoint to a destination with the server's own
		// credentials: the endpoint typed on this step is what conflicts.
		field = "endpoint"
	}
	switch owner := ownerStep(field); {
	case owner == w.step:
	case owner >= 0 && w.stored == nil && owner < w.step:
		// A new destination's earlier step carried a value that does not
		// validate: show that step again.
		w.step = owner
	default:
		field = ""
	}
	w.errs = views.FormErrors{field: store.ErrorMessage(err)}
	return s.renderWizard(c, http.StatusUnprocessableEntity, w)
}

// renderWizard renders one step of the wizard.
func (s *Server) renderWizard(c echo.Context, status int, w wizard) error {
	ctx := c.Request().Context()
	step := wizardSteps[w.step]
	title := "New destination"
	if w.stored != nil {
		title = w.stored.Name
	}
	form := destinationForm(w.d, w.stored)
	if w.typed != nil && step.key == "bucket" {
		// A refused custom region keeps both region fields as typed.
		form.Region, form.CustomRegion = w.typed.get("region"), w.typed.get("custom_region")
	}
	v := views.WizardView{
		Page:   s.page(c, title, "destinations"),
		New:    w.stored == nil,
		Step:   step.key,
		Form:   form,
		Errors: w.errs,
		Steps:  stepNav(w.stored, w.step),
	}
	base := "/destinations/new/"
	if w.stored != nil {
		v.ID = w.stored.ID
		base = stepURL(w.stored.ID, "")
		if w.step > 0 {
			v.BackHref = base + wizardSteps[w.step-1].key
		}
		if w.step+1 < len(wizardSteps) {
			v.NextHref = base + wizardSteps[w.step+1].key
		}
		v.MappingsHref = mappingsURL(w.stored.ID)
		alerts, err := s.destinationAlerts(ctx, []*store.Destination{w.stored})
		if err != nil {
			return err
		}
		if len(alerts) > 0 {
			v.Alert = alerts[0]
		}
	}
	v.Action = base + step.key
	switch step.key {
	case "name":
		srcs, _, err := s.db.ListSources(ctx, store.Page{Limit: store.MaxPageLimit})
		if err != nil {
			return err
		}
		for _, src := range srcs {
			v.Sources = append(v.Sources, views.DestinationChoice{Value: src.ID, Label: src.Name})
		}
	case "bucket":
		for _, r := range store.AWSRegions {
			v.Regions = append(v.Regions, views.DestinationChoice{Value: r.Code, Label: r.Name})
		}
		v.StorageClasses = store.AllStorageClasses()
	case "access":
		if v.Form.ExternalID == "" {
			// The ID shown is the one stored when the form is saved.
			v.Form.ExternalID = store.NewExternalID()
			w.d.Credentials.ExternalID = v.Form.ExternalID
		}
		if v.Form.Auth == "" && w.errs == nil {
			// The recommended mode is chosen until the user picks another.
			v.Form.Auth = store.AuthRole
		}
		v.Access = s.accessHelp(ctx, w.d)
		v.AccessHelpURL = base + "access-help"
	case "mappings", "enable":
		// Both steps exist only for a stored destination.
		ms, err := s.db.ListMappings(ctx, w.stored.ID)
		if err != nil {
			return err
		}
		v.Mappings = s.mappingList(w.stored, ms)
		v.EnabledMappings = enabledCount(ms)
	}
	if w.stored != nil {
		v.Test = lastTestView(w.stored)
		v.Enabled = w.stored.Enabled || w.stored.WizardStep != ""
	}
	return s.render(c, status, views.DestinationWizard(v))
}

// destinationForm is what the wizard's fields show for d. Secrets are only
// said to be stored, never shown.
func destinationForm(d, stored *store.Destination) views.DestinationForm {
	c := d.Config
	f := views.DestinationForm{
		Name: d.Name, SourceIDs: d.SourceIDs, Bucket: c.Bucket, Region: c.Region, Endpoint: c.Endpoint,
		ForcePathStyle: c.ForcePathStyle, PathPrefix: c.PathPrefix, StorageClass: c.StorageClass,
		ServerSideEncryption: c.ServerSideEncryption, KMSKeyID: c.KMSKeyID, Auth: c.Auth, RoleARN: c.RoleARN,
		ExternalID: d.Credentials.ExternalID, DeliveryMetadata: formatDeliveryMetadata(c.DeliveryMetadata),
	}
	if c.Region != "" && !store.IsAWSRegion(c.Region) {
		f.Region, f.CustomRegion = "", c.Region
	}
	if k := d.Credentials.Key; k != "" && (stored == nil || k != stored.Credentials.Key) {
		f.Key = k
	}
	if stored != nil {
		f.KeyStored = maskKey(stored.Credentials.Key)
		f.SecretStored = stored.Credentials.Secret != ""
		f.SessionStored = stored.Credentials.Session != ""
	}
	return f
}

// maskKey shows enough of an access key ID to recognise it, as the AWS
// console does.
func maskKey(k string) string {
	switch {
	case k == "":
		return ""
	case len(k) < 12:
		return "…" + k[len(k)-min(len(k), 2):]
	}
	return k[:4] + "…" + k[len(k)-4:]
}

// accessHelp generates the access step's trust and permission policies and
// AWS CLI commands for d, trusting the server's own identity.
func (s *Server) accessHelp(ctx context.Context, d *store.Destination) views.AccessHelp {
	var a views.AccessHelp
	ident, err := s.destinations.ServerIdentity(ctx)
	if err != nil {
		a.PrincipalProblem = identityProblem(err)
	} else {
		a.Principal = ident.Principal
	}
	cfg := delivery.S3Config(d)
	cfg.AccessKey, cfg.Secret, cfg.Session = "", "", ""
	a.TrustPolicy = s3.TrustPolicy(a.Principal, cfg.ExternalID)
	a.PermissionPolicy = s3.PermissionPolicyFor(cfg)
	a.CLICommands = s3.CLICommands(cfg, a.Principal)
	return a
}

// identityProblem says in a few words why the server's identity is unknown.
func identityProblem(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("sts:GetCallerIdentity answered %s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	msg := err.Error()
	if strings.Contains(msg, "credential") {
		return "the server has no AWS credentials of its own"
	}
	const maxLen = 240
	if len(msg) > maxLen {
		msg = msg[:maxLen] + "…"
	}
	return "sts:GetCallerIdentity failed: " + msg
}

// lastTestView is a destination's last test, saying whether its settings
// changed since.
func lastTestView(d *store.Destination) views.TestResultView {
	v := testResultView(d.LastTest, d.Config.Auth)
	v.SettingsChanged = d.SettingsChangedSinceTest()
	return v
}

// testResultView turns a stored test result into its view, listing the
// steps a failure kept from running as not run.
func testResultView(r *store.TestResult, auth string) views.TestResultView {
	if r == nil {
		return views.TestResultView{}
	}
	v := views.TestResultView{Ran: true, OK: r.OK, At: r.At}
	for _, st := range r.Steps {
		status := "ok"
		switch {
		case !st.OK:
			status = "failed"
		case st.Warning:
			status = "warning"
		}
		v.Steps = append(v.Steps, views.TestStepView{Name: st.Name, Status: status, Code: st.Code, Message: st.Message, Hint: st.Hint})
	}
	first := s3.StepCredentials
	if auth == store.AuthRole {
		first = s3.StepAssumeRole
	}
	if len(r.Steps) == 0 || r.Steps[0].Name != first {
		return v
	}
	for _, name := range []string{s3.StepPut, s3.StepDelete} {
		if !slices.ContainsFunc(r.Steps, func(st store.TestStep) bool { return st.Name == name }) {
			v.Steps = append(v.Steps, views.TestStepView{Name: name, Status: "skipped", Message: "Not run: an earlier step failed."})
		}
	}
	return v
}
