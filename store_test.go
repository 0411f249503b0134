package publicmask

import (
	"errors"
	"slices"
	"testing"
)

func TestPurgeInChunks(t *testing.T) {
	// Step 0 touches 5+5+2 rows, step 1 5+0: each runs until a chunk is not full.
	left := []int64{12, 5}
	var calls []int
	n, err := PurgeInChunks(2, 5, func(step int) (int64, error) {
		calls = append(calls, step)
		got := min(left[step], 5)
		left[step] -= got
		return got, nil
	})
	if err != nil || n != 12 || !slices.Equal(calls, []int{0, 0, 0, 1, 1}) {
		t.Fatalf("n=%d err=%v calls=%v", n, err, calls)
	}
	// A failed chunk stops the purge and is not counted.
	boom := errors.New("boom")
	n, err = PurgeInChunks(2, 5, func(step int) (int64, error) {
		if step == 0 && len(calls) > 5 {
			return 5, boom
		}
		calls = append(calls, step)
		return 5, nil
	})
	if !errors.Is(err, boom) || n != 5 {
		t.Fatalf("after a failure: n=%d err=%v", n, err)
	}
}
