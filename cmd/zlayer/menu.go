package main

// runMenu opens the interactive menu when zlayer runs with no arguments on a
// terminal. It reports handled=false when there is no menu to show, and the
// caller prints help instead.
func runMenu() (code int, handled bool) {
	return 0, false
}
