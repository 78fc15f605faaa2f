import Atelier
import Foundation

/// Sweeps the GEMM blocking on the models' layers, the elementwise
/// work-group size, and each layer's convolution algorithm, and reports the
/// fastest setting for this device.
enum Tuner {
    struct Trial: Codable {
        var tuning: String
        var milliseconds: Double
    }

    static func candidates(for info: OpenCLDeviceInfo, base: DeviceTuning) -> [DeviceTuning] {
        var gemms: [DeviceTuning.Gemm] = []
        if info.kind == .cpu || info.localMemoryType != "local" {
            for rows in [4, 6, 8, 12] {
                for width in [8, 16] {
                    for (lx, ly) in [(1, 1), (2, 2), (4, 4), (8, 2), (8, 8)] {
                        gemms.append(.blocked(rows: rows, vectorWidth: width, localX: lx, localY: ly))
                    }
                }
            }
        } else {
            for (tm, tn, tk, wm, wn) in [(64, 64, 16, 4, 4), (128, 128, 16, 8, 8), (64, 64, 8, 4, 4), (128, 64, 16, 8, 4),
                                         (32, 32, 16, 2, 2), (64, 128, 16, 4, 8), (128, 128, 8, 8, 8), (32, 64, 16, 2, 4)] {
                gemms.append(.tiled(tileM: tm, tileN: tn, tileK: tk, workM: wm, workN: wn))
            }
        }
        return gemms.compactMap { g in
            var t = base
            t.gemm = g
            return (try? validated(t, info)) ?? nil
        }
    }

    private static func validated(_ t: DeviceTuning, _ info: OpenCLDeviceInfo) throws -> DeviceTuning? {
        // Same limits the backend checks; invalid candidates are skipped.
        _ = try OpenCLBackend.checkTuning(t, for: info)
        return t
    }

    /// The GEMMs training runs: every dense and convolution (as im2col +
    /// GEMM) pass of the models' layers at `batch`, so the blocking is
    /// ranked on the shapes it will run (thin, tall and short ones) rather
    /// than on a square GEMM.
    static func workloads(batch: Int) -> [BenchCase] {
        BenchCatalogue.all(batches: [batch]).filter { $0.group == "dense" || $0.group == "conv" }
    }

    static var pointwiseWorkloads: [BenchCase] {
        let chosen = ["sigmoid fwd", "relu grad", "bias add", "adam"]
        return BenchCatalogue.elementwise(count: 1 << 20).filter { c in chosen.contains { c.name.hasPrefix($0) } }
    }

    static func pointwiseCandidates(base: DeviceTuning, info: OpenCLDeviceInfo) -> [DeviceTuning] {
        [1, 4, 8, 16].flatMap { width in
            [64, 256].compactMap { local -> DeviceTuning? in
                var t = base
                t.pointwiseVector = width
                t.pointwiseLocal = local
                return (try? OpenCLBackend.checkTuning(t, for: info))
            }
        }
    }

    /// Two sweeps, each ranked by the total median time of its workloads:
    /// GEMM blocking on the models' dense and convolution layers at
    /// `batch`, then (with the best GEMM) the elementwise vector width and
    /// work-group size. (The convolution algorithms come after, per layer:
    /// `convolutionChoices`.)
    static func sweep(deviceID: String, info: OpenCLDeviceInfo, base: DeviceTuning, batch: Int, repeats: Int,
                      log: (String) -> Void) throws -> [(DeviceTuning, Double)] {
        let gemmRanked = try rank(candidates(for: info, base: base), workloads(batch: batch), deviceID: deviceID,
                                  repeats: repeats, label: "gemm", convolution: .columns, log: log)
        guard let bestGemm = gemmRanked.first?.0 else { return [] }
        let pointwiseRanked = try rank(pointwiseCandidates(base: bestGemm, info: info), pointwiseWorkloads,
                                       deviceID: deviceID, repeats: repeats, label: "elementwise", log: log)
        return pointwiseRanked.isEmpty ? gemmRanked : pointwiseRanked
    }

    /// The convolution algorithms worth measuring on this kind of device:
    /// the vectorised direct kernels on CPU devices, the implicit-GEMM
    /// kernels on GPUs, im2col + GEMM on both.
    static func convolutionCandidates(for info: OpenCLDeviceInfo) -> [ConvAlgorithm] {
        var list: [ConvAlgorithm] = [.columns]
        if info.kind == .cpu || info.localMemoryType != "local" {
            for width in [8, 16] { for pixels in [4, 8] { list.append(.direct(width: width, pixels: pixels)) } }
        } else {
            for block in [1, 4, 8, 16] {
                for local in [64, 128, 256] where local <= info.maxWorkGroupSize {
                    list.append(.implicitGemm(block: block, local: local))
                }
            }
        }
        return list
    }

    /// Times every candidate algorithm on each pass of the models' layers
    /// at `batches` (with the rest of `base`) and returns the fastest per
    /// pass and shape, as DeviceTuning.convolutions keys them.
    static func convolutionChoices(deviceID: String, info: OpenCLDeviceInfo, base: DeviceTuning, batches: [Int],
                                   repeats: Int, log: (String) -> Void) throws -> [String: ConvAlgorithm] {
        try convolutionChoices(deviceID: deviceID, info: info, base: base,
                               cases: BenchCatalogue.all(batches: batches).filter { $0.convolution != nil },
                               repeats: repeats, log: log)
    }

    /// A candidate replaces the pass's default algorithm (the rule, which is
    /// timed too) only when it is at least `margin` faster, so noise does
    /// not flip close calls.
    static func convolutionChoices(deviceID: String, info: OpenCLDeviceInfo, base: DeviceTuning, cases: [BenchCase],
                                   repeats: Int, margin: Double = 0.05, log: (String) -> Void) throws -> [String: ConvAlgorithm] {
        var untuned = base
        untuned.convolutions = nil
        untuned.convolution = nil
        let defaults = cases.map { c in c.convolution.map { untuned.convolution(for: $0.pass, $0.geometry, device: info) } }
        var algorithms = convolutionCandidates(for: info)
        let candidateCount = algorithms.count
        for d in defaults.compactMap({ $0 }) where !algorithms.contains(d) { algorithms.append(d) }
        let peak = DevicePeak(gflops: 1, gigabytesPerSecond: 1, units: 1)
        var times: [[ConvAlgorithm: Double]] = Array(repeating: [:], count: cases.count)
        for (j, algorithm) in algorithms.enumerated() {
            var tuning = base
            tuning.convolution = algorithm
            tuning.convolutions = nil
            let backend = try OpenCLBackend(deviceID: deviceID, profiling: true, tuning: tuning)
            for (i, c) in cases.enumerated() where j < candidateCount || defaults[i] == algorithm {
                do {
                    times[i][algorithm] = try Measurement.run(c, on: backend, reference: nil, peak: peak, warmup: 1,
                                                              repeats: repeats, tolerance: 0).milliseconds
                } catch {
                    log("convolution \(algorithm) on \(c.name): failed (\(error)); skipped")
                }
            }
            log("convolution [\(j + 1)/\(algorithms.count)] \(algorithm): timed")
        }
        // Layers of different models can be the same computation (a
        // transposed convolution's forward pass is the data gradient of the
        // convolution it transposes): one choice per key, on the summed times.
        var choices: [String: ConvAlgorithm] = [:]
        let keys = cases.map { c in c.convolution.map { $0.pass.key($0.geometry) } }
        for key in Set(keys.compactMap { $0 }).sorted() {
            let members = cases.indices.filter { keys[$0] == key }
            var summed: [ConvAlgorithm: Double] = [:]
            for algorithm in algorithms where members.allSatisfy({ times[$0][algorithm] != nil }) {
                summed[algorithm] = members.reduce(0) { $0 + times[$1][algorithm]! }
            }
            guard let fastest = summed.min(by: { $0.value < $1.value }) else { continue }
            var choice = fastest.key
            let fallback = defaults[members[0]]
            if let d = fallback, let dt = summed[d], fastest.value > (1 - margin) * dt { choice = d }
            choices[key] = choice
            let names = members.map { cases[$0].name }.joined(separator: " = ")
            let defaultTime = fallback.flatMap { d in summed[d].map { String(format: "; default %@ %.3f ms", d.description, $0) } } ?? ""
            log(String(format: "%@: %@, %.3f ms%@", names, choice.description, summed[choice] ?? .nan, defaultTime))
        }
        return choices
    }

    /// `convolution`, when given, is used for every convolution while timing
    /// (the GEMM sweep times convolutions as im2col + GEMM).
    static func rank(_ candidates: [DeviceTuning], _ cases: [BenchCase], deviceID: String, repeats: Int, label: String,
                     convolution: ConvAlgorithm? = nil, log: (String) -> Void) throws -> [(DeviceTuning, Double)] {
        var results: [(DeviceTuning, Double)] = []
        for (i, candidate) in candidates.enumerated() {
            let total: Double
            do {
                total = try totalMilliseconds(candidate, cases, deviceID: deviceID, repeats: repeats, convolution: convolution)
            } catch {
                log("\(label) [\(i + 1)/\(candidates.count)] \(candidate): failed (\(error)); skipped")
                continue
            }
            log(String(format: "%@ [%d/%d] %@: %.3f ms", label, i + 1, candidates.count, candidate.description, total))
            results.append((candidate, total))
        }
        return results.sorted { $0.1 < $1.1 }
    }

    /// The sum of the cases' median times with `tuning`.
    static func totalMilliseconds(_ tuning: DeviceTuning, _ cases: [BenchCase], deviceID: String, repeats: Int,
                                  convolution: ConvAlgorithm? = nil) throws -> Double {
        var timed = tuning
        if let convolution {
            timed.convolution = convolution
            timed.convolutions = nil
        }
        let backend = try OpenCLBackend(deviceID: deviceID, profiling: true, tuning: timed)
        return try SecondLook.totalMilliseconds(cases, on: backend, repeats: repeats)
    }

    /// The sweep's GEMM and elementwise setting against the current one (SecondLook).
    static func confirm(_ best: DeviceTuning, over current: DeviceTuning, cases: [BenchCase], deviceID: String,
                        repeats: Int, margin: Double = 0.03, log: (String) -> Void) throws -> DeviceTuning {
        try SecondLook.decide(best, over: current, margin: margin, log: log) {
            try totalMilliseconds($0, cases, deviceID: deviceID, repeats: repeats, convolution: .columns)
        }
    }
}
