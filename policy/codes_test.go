package policy_test

import (
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
)

// Every outlet type of the root package is one a policy may name.
func TestPolicyAcceptsTheOutletTypes(t *testing.T) {
	for _, typ := range []string{publicmask.TypePharmacy, publicmask.TypePost, publicmask.TypeNonghyup} {
		p := policy.Standard()
		p.Periods[0].OutletClosed = map[string][]string{typ: {"mon"}}
		if err := p.Validate(); err != nil {
			t.Errorf("outlet type %s rejected: %v", typ, err)
		}
	}
}
