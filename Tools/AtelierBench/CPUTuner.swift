import Atelier
import Foundation

/// `--tune` on the CPU path: the convolution chunk size, then the channel
/// count from which pixel-major columns are used, then whether those layers
/// run indirect (no columns), then whether 4x4 stride-2 layers run by
/// Winograd, each ranked by the total time of the model layers'
/// convolutions (all three passes) at `batch`.
enum CPUTuner {
    static let chunkSizes = [512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20]
    static let pixelMajorThresholds = [2, 4, 8, 16, 64]

    static func workloads(batch: Int) -> [BenchCase] {
        // gan's and dcgan's: the knobs swept here do not touch CycleGAN's batch-1 layers.
        BenchCatalogue.all(batches: [batch]).filter { $0.group == "conv" && !$0.name.hasPrefix("cyclegan") }
    }

    static func sweep(batch: Int, repeats: Int, log: (String) -> Void) throws -> [(CPUTuning, Double)] {
        let cases = workloads(batch: batch)
        let chunks = chunkSizes.map { CPUTuning(convolutionChunkBytes: $0) }
        let byChunk = try rank(chunks, cases, repeats: repeats, label: "chunk", log: log)
        guard let best = byChunk.first?.0 else { return [] }
        let thresholds = pixelMajorThresholds.map {
            CPUTuning(convolutionChunkBytes: best.convolutionChunkBytes, pixelMajorMinChannels: $0, indirectConvolutions: best.indirectConvolutions)
        }
        let byThreshold = try rank(thresholds, cases, repeats: repeats, label: "pixel-major", log: log)
        guard let bestThreshold = byThreshold.first?.0 else { return [] }
        let layouts = [false, true].map {
            CPUTuning(convolutionChunkBytes: bestThreshold.convolutionChunkBytes,
                      pixelMajorMinChannels: bestThreshold.pixelMajorMinChannels, indirectConvolutions: $0,
                      winogradConvolutions: bestThreshold.winogradConvolutions)
        }
        let byLayout = try rank(layouts, cases, repeats: repeats, label: "indirect", log: log)
        guard let bestLayout = byLayout.first?.0 else { return [] }
        let winograd = [false, true].map {
            CPUTuning(convolutionChunkBytes: bestLayout.convolutionChunkBytes, pixelMajorMinChannels: bestLayout.pixelMajorMinChannels,
                      indirectConvolutions: bestLayout.indirectConvolutions, winogradConvolutions: $0)
        }
        return try rank(winograd, cases, repeats: repeats, label: "winograd", log: log)
    }

    static func rank(_ candidates: [CPUTuning], _ cases: [BenchCase], repeats: Int, label: String,
                     log: (String) -> Void) throws -> [(CPUTuning, Double)] {
        var results: [(CPUTuning, Double)] = []
        for (i, candidate) in candidates.enumerated() {
            let total = try totalMilliseconds(candidate, cases, repeats: repeats)
            log(String(format: "%@ [%d/%d] %@: %.3f ms", label, i + 1, candidates.count, candidate.description, total))
            results.append((candidate, total))
        }
        return results.sorted { $0.1 < $1.1 }
    }

    static func totalMilliseconds(_ tuning: CPUTuning, _ cases: [BenchCase], repeats: Int) throws -> Double {
        try SecondLook.totalMilliseconds(cases, on: CPUBackend(tuning: tuning), repeats: repeats)
    }

    /// The sweep's best against the current setting (SecondLook), as the OpenCL tuner does.
    static func confirm(_ best: CPUTuning, over current: CPUTuning, batch: Int, repeats: Int, margin: Double = 0.03,
                        log: (String) -> Void) throws -> CPUTuning {
        let cases = workloads(batch: batch)
        return try SecondLook.decide(best, over: current, margin: margin, log: log) {
            try totalMilliseconds($0, cases, repeats: repeats)
        }
    }
}
