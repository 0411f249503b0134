package policy_test

import (
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
)

// The policy's bounds and outlet types agree with the root package's.
func TestPolicyAgreesWithTheRootPackage(t *testing.T) {
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
