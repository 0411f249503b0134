package browsertest

import (
	"context"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Keys types keys as a physical keyboard does. chromedp.KeyEvent sends each
// key as a "keyDown" followed by a separate "char" event; Chromium then
// delivers the char as a keypress even when the page prevented the keydown,
// so an Enter whose keydown the page handled also submits the form: a
// second action no real keyboard produces, which raced with the page's own
// handling (the counter's offline sale, CI 2026-12-05). A keyboard's key is
// a raw key-down, which lets a prevented keydown suppress its keypress.
func Keys(keys string, mods ...chromedp.Modifier) chromedp.Action[chromedp.Void] {
	var mod int64
	for _, m := range mods {
		mod |= int64(m)
	}
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, r := range keys {
			for _, ev := range kb.Encode(r) {
				ev.Modifiers |= mod
				switch {
				case ev.Type == kb.KeyDown:
					ev.Type = input.DispatchKeyEventTypeRawKeyDown
				case ev.Type == kb.KeyChar && mod&^int64(chromedp.ModifierShift) != 0:
					continue // a shortcut types no character
				}
				if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, *ev); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Enter presses Enter as a keyboard does (see Keys).
func Enter() chromedp.Action[chromedp.Void] { return Keys(kb.Enter) }
