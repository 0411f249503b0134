package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/outletio"
	"github.com/publicmask/publicmask/policy"
)

const (
	maxBulkTokens    = 50_000 // every outlet of the country fits in one call
	maxDeliveryLines = 100_000
	defaultConflicts = 1000
)

// bulkWrite brackets a bulk write (see Config.BulkWrite). Its end waits a
// bounded time for the public snapshot: what was written is committed
// either way, so a snapshot that lags only costs a warning.
func (s *Server) bulkWrite(r *http.Request) func() {
	if s.cfg.BulkWrite == nil {
		return func() {}
	}
	done := s.cfg.BulkWrite()
	return func() {
		ctx, cancel := context.WithTimeout(r.Context(), bulkSettleTimeout)
		defer cancel()
		if err := done(ctx); err != nil {
			s.logger(r).Warn("bulk write: the public snapshot has not caught up yet", "err", err)
		}
	}
}

// bulkSettleTimeout bounds the wait for the snapshot after a bulk write.
const bulkSettleTimeout = 30 * time.Second

// importOutlets: PUT /api/v2/admin/outlets. CSV when the Content-Type says
// so or the body does not start like JSON; JSON otherwise.
func (s *Server) importOutlets(w http.ResponseWriter, r *http.Request) {
	rows := 0 // at most one a line: the CSV parser makes its lists for them
	if hb, ok := r.Body.(*heldBody); ok {
		rows = bytes.Count(hb.b, []byte{'\n'}) + 1
	}
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, s.cfg.ImportMaxBytes))
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	var (
		outlets  []publicmask.Outlet
		rejected []outletio.Rejected
		err      error
	)
	prefix, _ := body.Peek(512)
	switch {
	case strings.Contains(ct, "csv"):
		outlets, rejected, err = outletio.ParseCSVRows(body, rows)
	case strings.Contains(ct, "json"), outletio.IsJSON(prefix):
		outlets, rejected, err = outletio.ParseJSON(body)
	default:
		outlets, rejected, err = outletio.ParseCSVRows(body, rows)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n := 0
	if len(outlets) > 0 {
		// done in a defer: a panic (recovered per request) must not leave
		// the bulk write counted for the life of the node.
		n, err = func() (int, error) {
			done := s.bulkWrite(r)
			defer done()
			return s.led.ImportOutlets(r.Context(), outlets)
		}()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	s.logger(r).Info("outlets imported", "upserted", n, "valid", len(outlets), "rejected", len(rejected))
	writeJSON(w, http.StatusOK, struct {
		Upserted int                 `json:"upserted"`
		Rejected []outletio.Rejected `json:"rejected"`
	}{n, rejected})
}

type tokenIn struct {
	Role   string `json:"role"`
	Outlet string `json:"outlet"`
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	var in tokenIn
	if !s.decodeBody(w, r, s.cfg.MaxBodyBytes, &in) {
		return
	}
	switch in.Role {
	case publicmask.RoleOutlet:
		if !outletio.ValidCode(in.Outlet) {
			s.writeError(w, r, fieldErr("outlet", "required for role outlet: an outlet code"))
			return
		}
	case publicmask.RoleDistributor:
		if in.Outlet != "" {
			s.writeError(w, r, fieldErr("outlet", "only for role outlet"))
			return
		}
	default:
		// Admin tokens come from the command line only.
		s.writeError(w, r, fieldErr("role", `must be "outlet" or "distributor"`))
		return
	}
	tok, err := s.led.IssueToken(r.Context(), in.Role, in.Outlet)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]string{"token": tok, "role": in.Role}
	if in.Outlet != "" {
		out["outlet"] = in.Outlet
	}
	writeJSON(w, http.StatusCreated, out)
}

type bulkIn struct {
	Outlets []string `json:"outlets"`
}

// issueTokens: POST /api/v2/admin/tokens/bulk, for the load simulator and
// for rolling out a region. Unknown outlets are listed, not fatal.
func (s *Server) issueTokens(w http.ResponseWriter, r *http.Request) {
	var in bulkIn
	if !s.decodeBody(w, r, s.cfg.ImportMaxBytes, &in) {
		return
	}
	if len(in.Outlets) == 0 || len(in.Outlets) > maxBulkTokens {
		s.writeError(w, r, fieldErr("outlets", "1–%d outlet codes", maxBulkTokens))
		return
	}
	codes := make([]string, 0, len(in.Outlets))
	seen := make(map[string]bool, len(in.Outlets))
	for i, c := range in.Outlets {
		if !outletio.ValidCode(c) {
			s.writeError(w, r, fieldErr("outlets["+strconv.Itoa(i)+"]", "not an outlet code"))
			return
		}
		if !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	// One check of all the codes and one transaction for all the tokens.
	// Store trouble fails the call: no token was issued.
	tokens, missing, err := s.led.IssueOutletTokens(r.Context(), codes)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rejected := make([]outletio.Rejected, 0, len(missing))
	for _, c := range missing {
		rejected = append(rejected, outletio.Rejected{Code: c, Reason: publicmask.ErrorMessage(publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", c))})
	}
	writeJSON(w, http.StatusCreated, map[string]any{"tokens": tokens, "rejected": rejected})
}

type revokeIn struct {
	Token string `json:"token"`
}

// revokeToken takes the token in the body, never in the path: paths are
// logged.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	var in revokeIn
	if !s.decodeBody(w, r, s.cfg.MaxBodyBytes, &in) {
		return
	}
	if in.Token == "" || len(in.Token) > 256 {
		s.writeError(w, r, fieldErr("token", "required"))
		return
	}
	if err := s.led.RevokeToken(r.Context(), in.Token); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": true})
}

type deliveryLineOut struct {
	Outlet  string               `json:"outlet"`
	TxnID   string               `json:"txn_id"`
	OK      bool                 `json:"ok"`
	Receipt *ledger.StockReceipt `json:"receipt,omitempty"`
	Error   *errorDetail         `json:"error,omitempty"`
	// receiptJSON is Receipt as recorded, when the ledger gave it
	// (ledger.DeliveryResult.JSON): deliveryResults embeds it.
	receiptJSON []byte
}

// adminDeliveries: POST /api/v2/admin/deliveries, admin or distributor.
// Each line stands alone: a bad line is reported in its result and the
// others are recorded.
func (s *Server) adminDeliveries(w http.ResponseWriter, r *http.Request) {
	var in []ledger.DeliveryRequest
	if hb, ok := r.Body.(*heldBody); ok {
		// Sized for the body's objects (at most one a '{'): decoding appends
		// to it, where a nil slice grew by doubling (~5% of the bytes a list of
		// 50,000 lines allocates).
		in = make([]ledger.DeliveryRequest, 0, min(bytes.Count(hb.b, []byte{'{'}), maxDeliveryLines+1))
	}
	if err := decodeDeliveries(w, r, s.cfg.ImportMaxBytes, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(in) == 0 || len(in) > maxDeliveryLines {
		s.writeError(w, r, badRequest("body must be an array of 1–%d delivery lines", maxDeliveryLines))
		return
	}
	out := make([]deliveryLineOut, len(in))
	valid := make([]ledger.DeliveryRequest, 0, len(in))
	at := make([]int, 0, len(in)) // index in `in` of each valid line
	for i, d := range in {
		out[i] = deliveryLineOut{Outlet: d.Outlet, TxnID: d.TxnID}
		// Both fields are checked whichever is reported: a field that is
		// not valid is never echoed (it may hold a registration number).
		var err error
		if err = ledger.CheckTxnID("txn_id", d.TxnID); err != nil {
			out[i].TxnID = ""
		}
		if !outletio.ValidCode(d.Outlet) {
			err = fieldErr("outlet", "not an outlet code")
			out[i].Outlet = ""
		}
		if err != nil {
			code, msg := classify(err)
			out[i].Error = &errorDetail{Code: code, Message: msg}
			continue
		}
		valid = append(valid, d)
		at = append(at, i)
	}
	if len(valid) > 0 {
		res, err := func() ([]ledger.DeliveryResult, error) {
			done := s.bulkWrite(r)
			defer done()
			return s.led.DeliverMany(r.Context(), valid)
		}()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for j, dr := range res {
			if j >= len(at) {
				break
			}
			i := at[j]
			if dr.Error != nil {
				code, msg := classify(dr.Error)
				out[i].Error = &errorDetail{Code: code, Message: msg}
				continue
			}
			out[i].OK, out[i].Receipt, out[i].receiptJSON = true, dr.Receipt, dr.JSON
		}
	}
	b, err := deliveryResults(out)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSONOwned(w, http.StatusOK, b)
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	// Verify reads everything; give it longer than a request usually gets
	// but not forever.
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	rep, err := s.led.Verify(ctx)
	if s.cfg.AfterScan != nil {
		s.cfg.AfterScan()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rep.Violations == nil {
		rep.Violations = []ledger.Violation{}
	}
	writeJSON(w, http.StatusOK, rep)
}

type conflictItem struct {
	Role      string `json:"role"`
	Category  string `json:"category,omitempty"`
	BirthYear int    `json:"birth_year,omitempty"`
	Quantity  int    `json:"quantity"`
}

type conflictOut struct {
	SaleID     string         `json:"sale_id"`
	Outlet     string         `json:"outlet"`
	TxnID      string         `json:"txn_id"`
	SoldAt     time.Time      `json:"sold_at"`
	RecordedAt time.Time      `json:"recorded_at"`
	Quantity   int            `json:"quantity"`
	Conflict   string         `json:"conflict"` // the first reason
	Reasons    []string       `json:"reasons"`
	Shortfall  int            `json:"shortfall"` // masks beyond the stock, made up by a shortfall correction
	Cancelled  bool           `json:"cancelled"`
	Items      []conflictItem `json:"items"`
}

type lateCountOut struct {
	Outlet    string `json:"outlet"`
	LateSales int    `json:"late_sales"`
	Conflicts int    `json:"conflicts"`
}

// conflicts lists the flagged late sales, newest first, and every outlet's
// count of late sales (DESIGN.md §4.3).
func (s *Server) conflicts(w http.ResponseWriter, r *http.Request) {
	n, err := queryLimit(r, defaultConflicts, ledger.MaxConflicts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sales, err := s.led.Conflicts(r.Context(), n)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	counts, err := s.led.LateSaleCounts(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]conflictOut, 0, len(sales))
	for _, sa := range sales {
		reasons := publicmask.ConflictReasons(sa.Conflict)
		c := conflictOut{SaleID: sa.ID, Outlet: sa.Outlet, TxnID: sa.TxnID, SoldAt: sa.SoldAt.In(publicmask.Seoul),
			RecordedAt: sa.RecordedAt.In(publicmask.Seoul), Quantity: sa.Quantity, Conflict: reasons[0], Reasons: reasons,
			Shortfall: sa.Shortfall, Cancelled: !sa.CancelledAt.IsZero(), Items: []conflictItem{}}
		for _, it := range sa.Items { // person keys stay out
			c.Items = append(c.Items, conflictItem{it.Role, it.Category, it.BirthYear, it.Quantity})
		}
		out = append(out, c)
	}
	per := make([]lateCountOut, 0, len(counts))
	for _, c := range counts {
		per = append(per, lateCountOut{Outlet: c.Outlet, LateSales: c.Late, Conflicts: c.Conflicts})
	}
	writeJSON(w, http.StatusOK, map[string]any{"conflicts": out, "outlets": per})
}

// putPolicy replaces the rules in force without a restart. The body is a
// policy file (JSON or YAML, as `--policy FILE` takes); it is validated in
// full before it is swapped in atomically, so no request sees half of it.
func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, policy.MaxFileSize))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := policy.Parse(body, "request body")
	if err != nil {
		s.writeError(w, r, publicmask.Errorf(publicmask.EBadRequest, "%s", err.Error()))
		return
	}
	s.cfg.SetPolicy(p)
	s.logger(r).Info("policy replaced", "policy", p.Name, "periods", len(p.Periods))
	writeJSON(w, http.StatusOK, map[string]any{"name": p.Name, "periods": len(p.Periods)})
}
