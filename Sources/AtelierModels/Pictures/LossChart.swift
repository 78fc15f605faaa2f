import Foundation

/// loss.png: a run's statistics per step as a chart with a title, a legend,
/// numbered axes and the epochs marked. Each series is drawn twice: every
/// step, faint (how noisy it is), and a centred running mean, bold (where
/// it is going). The value axis fits the means and all but the wildest 1 %
/// of the steps, so one spike does not flatten the rest; steps beyond it are
/// cut at the edge. Infinite and NaN values leave gaps.
public struct LossChart: Sendable {
    /// One line of the chart: a statistic's value at each step.
    public struct Series: Sendable {
        /// The legend's name for it.
        public var name: String
        /// One value per step, from the first.
        public var values: [Float]
        /// A series named `name`.
        public init(name: String, values: [Float]) { (self.name, self.values) = (name, values) }
    }

    /// The chart's title.
    public var title: String
    /// The lines, in `colours`' order.
    public var series: [Series]
    /// Steps in an epoch, for the epoch marks; nil for none.
    public var stepsPerEpoch: Int?

    /// A chart of `series`, with epoch marks every `stepsPerEpoch` steps.
    public init(title: String, series: [Series], stepsPerEpoch: Int? = nil) {
        (self.title, self.series, self.stepsPerEpoch) = (title, series, stepsPerEpoch)
    }

    /// The axes' names.
    public var xLabel = "step", yLabel = "loss"
    /// The axis units between one value and the next, and where value 0
    /// sits in them: steps are drawn mid-step (1, 0.5); figures measured
    /// every N epochs at the epoch's end (N, 1).
    public var spacing = 1, offset = 0.5

    /// The series' colours, in order (red and blue first: D and G).
    public static let colours = [Colour(200, 30, 30), Colour(30, 60, 200), Colour(30, 150, 50), Colour(230, 130, 0),
                                 Colour(140, 40, 170), Colour(0, 150, 160), Colour(120, 90, 40), Colour(220, 60, 160)]

    /// Steps the running mean spans: a thirtieth of the run, odd; 1 (no
    /// smoothing) below 60 steps.
    public static func window(steps: Int) -> Int { max(1, steps / 30) | 1 }

    /// The chart as an RGB picture; throws when the size leaves no room for the plot.
    public func render(width: Int = 800, height: Int = 450) throws -> PixelImage {
        let canvas = try Canvas(width: width, height: height)
        let values = series.map(\.values.count).max() ?? 0
        let steps = values * spacing
        let window = Self.window(steps: values)
        let means = series.map { Self.runningMean($0.values, window: window) }
        let (bottom, top) = Self.valueRange(raw: series.map(\.values), means: means)

        // Title, then the legend on as many rows as it needs.
        canvas.text(title, x: 12, y: 22, size: 15, bold: true)
        var legendX = 12.0, legendY = 44.0
        for (index, one) in series.enumerated() {
            let width = 26 + canvas.textWidth(one.name, size: 12) + 18
            if legendX + width > Double(canvas.width) - 12, legendX > 12 { (legendX, legendY) = (12, legendY + 18) }
            canvas.line([(legendX, legendY - 4), (legendX + 20, legendY - 4)], colour: Self.colour(index), width: 2.5)
            canvas.text(one.name, x: legendX + 26, y: legendY, size: 12)
            legendX += width
        }

        // The plot's rectangle: room on the left for the widest value label.
        let yTicks = Self.ticks(bottom, top)
        let yLabels = yTicks.map { Self.label($0, ticks: yTicks) }
        let labelWidth = yLabels.map { canvas.textWidth($0, size: 11) }.max() ?? 0
        let left = (labelWidth + 30).rounded(), right = Double(canvas.width) - 16
        let plotTop = legendY + 26, plotBottom = Double(canvas.height) - 44
        guard right - left > 20, plotBottom - plotTop > 20 else {
            throw ImageFileError("a \(width)x\(height) chart has no room for its plot; draw it larger")
        }
        func x(_ step: Double) -> Double { left + step / Double(max(steps, 1)) * (right - left) }
        func y(_ value: Double) -> Double { plotBottom - (value - bottom) / (top - bottom) * (plotBottom - plotTop) }

        let grid = Colour(222, 222, 222), ink = Colour(70, 70, 70)
        for (tick, label) in zip(yTicks, yLabels) {
            canvas.line([(left, y(tick)), (right, y(tick))], colour: grid)
            canvas.text(label, x: left - 7, y: y(tick) + 4, size: 11, colour: ink, align: .right)
        }
        let xTicks = Self.stepTicks(steps)
        for tick in xTicks {
            canvas.line([(x(tick), plotBottom), (x(tick), plotBottom + 5)], colour: ink)
            canvas.text(Self.stepLabel(Int(tick)), x: x(tick), y: plotBottom + 18, size: 11, colour: ink, align: .center)
        }
        canvas.text(xLabel, x: (left + right) / 2, y: plotBottom + 36, size: 12, colour: ink, align: .center)
        if window > 1 {
            canvas.text("thin: each step   bold: mean of \(window) steps", x: right, y: plotBottom + 36,
                        size: 10, colour: Colour(120, 120, 120), align: .right)
        }
        canvas.text(yLabel, x: 14, y: (plotTop + plotBottom) / 2, size: 12, colour: ink, align: .center, vertical: true)

        // Epoch ends as dashed lines, named above the plot: each epoch in its
        // span when there is room, else the end of every 2nd, 5th, ... one.
        if let perEpoch = stepsPerEpoch, perEpoch > 0, steps > 0 {
            let epochs = (steps + perEpoch - 1) / perEpoch
            let span = x(Double(perEpoch)) - x(0)
            let every = Self.labelEvery(span: span, labelWidth: canvas.textWidth("epoch \(epochs)", size: 10) + 8)
            let labelColour = Colour(110, 110, 110)
            for epoch in stride(from: every, through: epochs, by: every) {
                let end = x(Double(min(epoch * perEpoch, steps)))
                if epoch * perEpoch < steps {
                    canvas.line([(end, plotTop), (end, plotBottom)], colour: Colour(150, 150, 150), dash: [4, 3])
                }
                if every == 1 {
                    let middle = (x(Double((epoch - 1) * perEpoch)) + end) / 2
                    canvas.text("epoch \(epoch)", x: middle, y: plotTop - 5, size: 10, colour: labelColour, align: .center)
                } else if epoch * perEpoch <= steps {
                    canvas.text(epoch == every ? "epoch \(epoch)" : "\(epoch)", x: end, y: plotTop - 5, size: 10,
                                colour: labelColour, align: epoch * perEpoch == steps ? .right : .center)
                }
            }
        }

        // The series, clipped to the plot: faint every step, then bold means.
        canvas.clip(x: left, y: plotTop, width: right - left, height: plotBottom - plotTop)
        let pixels = Int(right - left)
        for (index, one) in series.enumerated() where window > 1 {
            let points = Self.envelope(one.values, columns: pixels).map { $0.map { (x(($0.step - 0.5 + offset) * Double(spacing)), y($0.value)) } }
            canvas.line(points, colour: Self.colour(index), width: 1, alpha: 0.25)
        }
        for (index, mean) in means.enumerated() {
            let points = mean.enumerated().map { step, value in value.map { (x((Double(step) + offset) * Double(spacing)), y($0)) } }
            canvas.line(Self.thinned(points, columns: pixels), colour: Self.colour(index), width: 2)
            // Few values (figures measured now and then): each one marked.
            if window == 1 && points.count <= 200 {
                for case let (px, py)? in points { canvas.dot(x: px, y: py, radius: 3, colour: Self.colour(index)) }
            }
        }
        canvas.unclip()
        canvas.line([(left, plotTop), (left, plotBottom), (right, plotBottom)], colour: ink)
        return canvas.image()
    }

    static func colour(_ index: Int) -> Colour { colours[index % colours.count] }

    /// The mean of the finite values within `window` steps centred on each
    /// step (fewer at the ends); nil where there are none.
    static func runningMean(_ values: [Float], window: Int) -> [Double?] {
        var sums = [0.0], counts = [0]
        sums.reserveCapacity(values.count + 1)
        for v in values {
            // Values beyond Double's means could overflow the sums; a float's range cannot.
            sums.append(sums.last! + (v.isFinite ? Double(v) : 0))
            counts.append(counts.last! + (v.isFinite ? 1 : 0))
        }
        let half = window / 2
        return values.indices.map { i in
            let lo = max(0, i - half), hi = min(values.count, i + half + 1)
            let n = counts[hi] - counts[lo]
            return n == 0 ? nil : (sums[hi] - sums[lo]) / Double(n)
        }
    }

    /// The value axis: from 0 (or below, for negative values) to a little
    /// above the highest mean and the 99th percentile of the steps.
    static func valueRange(raw: [[Float]], means: [[Double?]]) -> (bottom: Double, top: Double) {
        let finite = raw.joined().filter(\.isFinite).map(Double.init).sorted()
        let meanValues = means.joined().compactMap { $0 }
        guard let first = finite.first else { return (0, 1) }
        let low = min(finite[finite.count / 100], meanValues.min() ?? first)
        let high = max(finite[finite.count - 1 - finite.count / 100], meanValues.max() ?? first)
        let bottom = min(0, low - 0.05 * (high - low))
        let top = high + 0.05 * (high - bottom)
        return top > bottom ? (bottom, top) : (bottom, bottom + max(1, abs(bottom)))
    }

    /// Value-axis ticks: multiples of gridStep within the range.
    static func ticks(_ bottom: Double, _ top: Double) -> [Double] {
        let step = Pictures.gridStep(top - bottom)
        let first = (bottom / step).rounded(.up), last = (top / step).rounded(.down)
        guard first <= last, last - first < 100 else { return [] }
        return stride(from: first, through: last, by: 1).map { $0 == 0 ? 0 : $0 * step }
    }

    /// A tick's label, with as many decimals as the ticks' spacing needs,
    /// or as "2.5e6" when the values are in the millions.
    static func label(_ value: Double, ticks: [Double]) -> String {
        let step = ticks.count > 1 ? ticks[1] - ticks[0] : max(abs(value), 1)
        let decimals = max(0, Int(-log10(step).rounded(.down)))
        if (ticks.map(abs).max() ?? abs(value)) >= 1e6 {
            guard value != 0 else { return "0" }
            let exponent = Int(log10(step).rounded(.down))
            let mantissa = value / pow(10, Double(exponent))
            let text = String(format: "%.1f", mantissa)
            return (text.hasSuffix(".0") ? String(text.dropLast(2)) : text) + "e\(exponent)"
        }
        return String(format: "%.\(decimals)f", value)
    }

    /// Step-axis ticks: whole steps, 1, 2 or 5 times a power of ten apart.
    static func stepTicks(_ steps: Int) -> [Double] {
        guard steps > 0 else { return [] }
        let step = max(1, Pictures.gridStep(Double(steps)))
        return stride(from: 0, through: Double(steps), by: step).map { $0 }
    }

    static func stepLabel(_ step: Int) -> String {
        step >= 10_000 && step % 1000 == 0 ? "\(step / 1000)k" : "\(step)"
    }

    /// Label every epoch whose span fits its label, else every 2nd, 5th, 10th, ...
    static func labelEvery(span: Double, labelWidth: Double) -> Int {
        guard span > 0 else { return Int.max / 2 }
        var every = 1
        for factor in [2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 100_000] where Double(every) * span < labelWidth {
            every = factor
        }
        return every
    }

    /// The steps' values as a line that, squeezed into `columns` pixel
    /// columns, looks as all of them drawn would: in each column, from its
    /// lowest value to its highest. Non-finite values leave gaps.
    static func envelope(_ values: [Float], columns: Int) -> [(step: Double, value: Double)?] {
        guard values.count > 2 * columns, columns > 0 else {
            return values.enumerated().map { $1.isFinite ? (Double($0) + 0.5, Double($1)) : nil }
        }
        var points: [(step: Double, value: Double)?] = []
        points.reserveCapacity(2 * columns)
        for column in 0..<columns {
            let lo = values.count * column / columns, hi = values.count * (column + 1) / columns
            let finite = values[lo..<hi].filter(\.isFinite)
            guard let low = finite.min(), let high = finite.max() else { points.append(nil); continue }
            let middle = Double(lo + hi) / 2
            // Alternate the order so the line zigzags instead of jumping back.
            let pair = column % 2 == 0 ? (low, high) : (high, low)
            points.append((middle, Double(pair.0)))
            points.append((middle, Double(pair.1)))
        }
        return points
    }

    /// Every n-th point, so a long run's means become at most 2 points a pixel column.
    static func thinned(_ points: [(x: Double, y: Double)?], columns: Int) -> [(x: Double, y: Double)?] {
        let every = max(1, points.count / max(1, 2 * columns))
        guard every > 1 else { return points }
        return points.indices.filter { $0 % every == 0 || $0 == points.count - 1 }.map { points[$0] }
    }
}
