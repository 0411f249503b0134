package policy_test

import (
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
)

// The reasons repeat the contract codes of the root package (no import, to
// allow the root package to import policy); they must stay equal.
func TestReasonsAreContractCodes(t *testing.T) {
	for got, want := range map[string]string{
		policy.ReasonBadRequest:       publicmask.EBadRequest,
		policy.ReasonNotEligibleToday: publicmask.ENotEligibleToday,
		policy.ReasonQuotaExceeded:    publicmask.EQuotaExceeded,
		policy.ReasonSalesClosed:      publicmask.ESalesClosed,
		policy.ReasonOutletClosed:     publicmask.EOutletClosed,
		policy.ReasonProxyNotAllowed:  publicmask.EProxyNotAllowed,
	} {
		if got != want {
			t.Errorf("reason %q != contract code %q", got, want)
		}
	}
	if policy.MaxLateWindow != publicmask.MaxLateWindow {
		t.Errorf("policy.MaxLateWindow %s != publicmask.MaxLateWindow %s", policy.MaxLateWindow, publicmask.MaxLateWindow)
	}
	for _, typ := range []string{publicmask.TypePharmacy, publicmask.TypePost, publicmask.TypeNonghyup} {
		p := policy.Standard()
		p.Periods[0].OutletClosed = map[string][]string{typ: {"mon"}}
		if err := p.Validate(); err != nil {
			t.Errorf("outlet type %s rejected: %v", typ, err)
		}
	}
}
