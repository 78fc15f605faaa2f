import Foundation

/// The line a run prints after each step, fitted to the terminal: a line
/// wider than the terminal wraps, and rewriting it in place then leaves a
/// stale copy per step. The position and the speed and ETA stay; the
/// statistics go from the last one until it fits.
public enum ProgressLine {
    /// The line for `p`, fitted to `width` columns when given.
    public static func text(_ p: TrainingRun.Progress, width: Int? = nil) -> String {
        let head = "[\(p.epoch)/\(p.epochs)][\(p.stepInEpoch)/\(p.stepsPerEpoch)]"
        let values = zip(p.statistics.names, p.statistics.values).map { String(format: "%@ %.4f", $0, $1) }
        let tail = String(format: "%.0f samples/s, ETA %@", p.samplesPerSecond, duration(p.secondsLeft))
        return fit(head: head, values: values, tail: tail, width: width)
    }

    /// `head values | tail` in at most `width - 1` characters (nil: no limit):
    /// values dropped from the end first, then the speed, then cut.
    static func fit(head: String, values: [String], tail: String, width: Int?) -> String {
        func join(_ v: [String], _ t: String) -> String { ([head] + v).joined(separator: " ") + " | " + t }
        guard let width else { return join(values, tail) }
        let room = max(width - 1, 1)
        var kept = values
        while join(kept, tail).count > room, !kept.isEmpty { kept.removeLast() }
        if join(kept, tail).count <= room { return join(kept, tail) }
        let eta = tail.range(of: "ETA ").map { String(tail[$0.lowerBound...]) } ?? tail
        let short = join([], eta)
        return short.count <= room ? short : String(short.prefix(room))
    }

    /// `seconds` as `1h02m` or `3m05s` (`?` when unknown).
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e9 else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }

    /// Columns of the terminal on standard output: its window size, else
    /// COLUMNS, else nil (not a terminal: lines are not rewritten, so they may be long).
    public static func terminalWidth() -> Int? {
        guard isatty(STDOUT_FILENO) != 0 else { return nil }
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
        return 80
    }
}
