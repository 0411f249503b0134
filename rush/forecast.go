package rush

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// The sell-out forecast's accuracy (DESIGN.md §4.2): for each outlet that
// sells out during the run, the forecast the public API gave once half of
// its opening stock was gone, against the moment it actually ran out (from
// the ledger's receipts, on the service clock like the forecast).

// minForecastStock leaves out outlets opened with so few masks that
// "half left" is one or two sales in: no rate is measurable there.
const minForecastStock = 30

// forecastMark records, under o.mu, the first acknowledgement at or below
// half the opening stock and the first at which the outlet was empty
// (stock ≤ 1: nobody can buy a pair). half says a forecast should be read
// now.
func (o *outletState) forecastMark(stock int, soldAt time.Time) (half bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.opening < minForecastStock {
		return false
	}
	if stock <= 1 && (o.soldOutAt.IsZero() || soldAt.Before(o.soldOutAt)) {
		o.soldOutAt = soldAt
	}
	if !o.halfAt.IsZero() || stock*2 > o.opening {
		return false
	}
	o.halfAt = soldAt
	return true
}

// forecastProbe reads the outlet's public record until it reflects the
// half-stock sale and keeps its forecast.
func (e *engine) forecastProbe(o *outletState, soldAt time.Time) {
	defer e.probeWG.Done()
	want := soldAt.Truncate(time.Microsecond)
	deadline := time.Now().Add(10 * time.Second)
	path := "/api/v2/outlets/" + url.PathEscape(o.code)
	for time.Now().Before(deadline) {
		status, b, err := e.probeGet(path)
		if err == nil {
			var rec struct {
				UpdatedAt time.Time `json:"updated_at"`
				Forecast  *struct {
					SelloutAt *time.Time `json:"sellout_at"`
				} `json:"forecast"`
			}
			if status == http.StatusOK && json.Unmarshal(b, &rec) == nil && !rec.UpdatedAt.Before(want) {
				o.mu.Lock()
				o.halfRead = true
				if rec.Forecast != nil && rec.Forecast.SelloutAt != nil {
					o.halfForecast = *rec.Forecast.SelloutAt
				}
				o.mu.Unlock()
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ForecastReport: outlets = outlets that sold out during the run after a
// forecast was read at half stock; error = |forecast − actual| / (actual −
// time of the half-stock sale); no_forecast = of those, how many had a null
// sellout_at at half stock (counted as an error of 100%).
type ForecastReport struct {
	Outlets          int     `json:"outlets"`
	NoForecast       int     `json:"no_forecast"`
	MedianAbsError   float64 `json:"median_abs_error"`
	P90AbsError      float64 `json:"p90_abs_error"`
	MedianRemainingS float64 `json:"median_remaining_s"`
	Aim              float64 `json:"aim"`
}

func (e *engine) forecastReport() ForecastReport {
	r := ForecastReport{Aim: 0.25}
	var errs, rem []float64
	for _, o := range e.outlets {
		o.mu.Lock()
		half, out, f, read := o.halfAt, o.soldOutAt, o.halfForecast, o.halfRead
		o.mu.Unlock()
		if !read || out.IsZero() || !out.After(half) {
			continue
		}
		r.Outlets++
		left := out.Sub(half).Seconds()
		rem = append(rem, left)
		if f.IsZero() {
			r.NoForecast++
			errs = append(errs, 1)
			continue
		}
		errs = append(errs, math.Abs(f.Sub(out).Seconds())/left)
	}
	r.MedianAbsError = round4(quantile(errs, 0.5))
	r.P90AbsError = round4(quantile(errs, 0.9))
	r.MedianRemainingS = math.Round(quantile(rem, 0.5)*10) / 10
	return r
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[min(int(q*float64(len(xs))), len(xs)-1)]
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
