import AtelierDevices
import AtelierModels
import Foundation

/// A GAN run's quality as it trains: after each epoch the collapse alarm
/// looks at the fixed-noise samples, and with `--eval-every N` every N-th
/// epoch is scored as `atelier eval` scores a checkpoint, into metrics.csv
/// and metrics.png, the best by Fréchet distance kept as best.safetensors.
final class RunQuality {
    private let task: GANTask
    private let files: RunFiles
    private let options: TrainingOptions
    private let backend: Backend
    private let log: (String) -> Void
    private var watch: CollapseWatch
    /// The feature network, for class coverage: the evaluator's, or one already in the cache.
    private var evaluator: Evaluator?
    private var coverageNetwork: FeatureExtractor?
    /// Whether the fixed samples' classes mean anything (Fashion-MNIST's classes, 28x28 gray or not).
    private let fashionClasses: Bool
    static let header = "epoch,step,frechet_distance,kid,kid_error,class_coverage,confidence,class_agreement"

    init(task: GANTask, files: RunFiles, options: TrainingOptions, resumedEpoch: Int, backend: Backend, log: @escaping (String) -> Void) throws {
        (self.task, self.files, self.options, self.backend, self.log) = (task, files, options, backend, log)
        let config = task.config
        watch = CollapseWatch(realPictures: task.realPictures(count: 64), pictureSize: config.imageShape.reduce(1, *))
        if options.stable { watch.advice = CollapseWatch.adviceWhenStable }
        fashionClasses = task.dataset.classNames == FashionMNIST.classNames
        if fashionClasses && !options.dryRun {
            coverageNetwork = FeatureNetwork.loadCached(backend: backend)?.extractor
        }
        // losses.csv's rule for metrics.csv: a resumed run keeps the rows up to its checkpoint.
        let kept = try Self.readRows(files.metrics).filter { $0.epoch <= resumedEpoch }
        var text = Self.header + "\n"
        for row in kept { text += row.line + "\n" }
        try Data(text.utf8).write(to: files.metrics, options: .atomic)
        bestDistance = kept.map(\.distance).min()
    }

    private var bestDistance: Double?

    /// After the step: the discriminator-has-won check.
    func observe(_ stats: StepStatistics) {
        if let warning = watch.observe(stats, mode: task.config.ganMode) { log(warning) }
    }

    /// After epoch `epoch` (its checkpoint saved): the alarm on the sheet's
    /// samples (from `sheetSeed`), and the scores when due. Returns what the epoch's line should add.
    func afterEpoch(_ epoch: Int, step: Int, sheetSeed: UInt64) throws -> String {
        let config = task.config
        let (images, _) = try task.fixedSamples(seed: sheetSeed)
        var coverage: Double?
        if let network = evaluator?.network.extractor ?? coverageNetwork {
            let probabilities = try network.measure(Evaluator.inputs(images, config: config)).probabilities
            coverage = QualityMetrics.classCoverage(QualityMetrics.predictedClasses(probabilities, classes: FeatureClassifier.classes),
                                                    classes: FeatureClassifier.classes)
        }
        let (variety, warning) = watch.observe(samples: images, pictureSize: config.imageShape.reduce(1, *), coverage: coverage, epoch: epoch)
        if let warning { log(warning) }
        var added = String(format: "variety %.2f", variety) + (coverage.map { String(format: ", classes %.2f nats", $0) } ?? "")
        guard let every = options.evalEvery, epoch % every == 0, !options.dryRun else { return added }
        if evaluator == nil { evaluator = try Evaluator(backend: backend, log: log) }
        let report = try evaluator!.evaluate(task.sampler, count: options.evalCount, seed: 1, source: files.checkpoint.path)
        try append(epoch: epoch, step: step, report)
        added += String(format: "; Fréchet distance %.3f, KID %.4f ± %.4f, coverage %.2f, confidence %.2f", report.frechetDistance,
                        report.kernelDistance, report.kernelDistanceError, report.classCoverage, report.confidence)
        if let agreement = report.meanClassAgreement { added += String(format: ", classes as asked %.1f%%", agreement * 100) }
        if bestDistance.map({ report.frechetDistance < $0 }) ?? true {
            bestDistance = report.frechetDistance
            try? FileManager.default.removeItem(at: files.best)
            if link(files.checkpoint.path, files.best.path) != 0 { try FileManager.default.copyItem(at: files.checkpoint, to: files.best) }
            added += " (best so far: \(files.best.lastPathComponent))"
        }
        return added
    }

    private func append(epoch: Int, step: Int, _ r: EvaluationReport) throws {
        let line = [String(epoch), String(step), String(r.frechetDistance), String(r.kernelDistance), String(r.kernelDistanceError),
                    String(r.classCoverage), String(r.confidence), r.meanClassAgreement.map { String($0) } ?? ""].joined(separator: ",")
        let handle = try FileHandle(forWritingTo: files.metrics)
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        try handle.write(contentsOf: Data((line + "\n").utf8))
        let all = try Self.readRows(files.metrics)
        let every = options.evalEvery ?? 1
        var chart = LossChart(title: "\(task.config.kind): Fréchet distance to Fashion-MNIST's test set " + (every == 1 ? "after each epoch" : "every \(every) epochs"),
                              series: [.init(name: "Fréchet distance (lower is better)", values: all.map { Float($0.distance) })])
        (chart.xLabel, chart.yLabel, chart.spacing, chart.offset) = ("epoch", "Fréchet distance", every, 1)
        try PNG.write(try chart.render(), to: files.metricsChart.path)
    }

    /// metrics.csv's rows: epoch, distance and the line itself.
    static func readRows(_ url: URL) throws -> [(epoch: Int, distance: Double, line: String)] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count >= 3, let epoch = Int(fields[0]), let distance = Double(fields[2]) else { return nil }
            return (epoch, distance, String(line))
        }
    }
}
