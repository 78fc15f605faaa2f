import Foundation
import Testing
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// The program cache and the buffer pool.
struct RuntimeTests {
    @Test("Disk cache: a second process loads binaries; a corrupt entry is rebuilt", .requiresOpenCL)
    func programCache() throws {
        let cl = try OpenCLTestSupport.backend()
        let dir = try temporaryDirectory("kernels")
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try KernelSources.source(named: "layout.cl")

        let first = ProgramCache(context: cl.context, device: cl.device, directory: dir)
        _ = try first.program(file: "layout.cl", source: source, options: "-cl-std=CL1.2")
        _ = try first.program(file: "layout.cl", source: source, options: "-cl-std=CL1.2")
        #expect(first.sourceBuilds == 1 && first.diskHits == 0, "the second request should come from memory")
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".bin") }
        #expect(entries.count == 1, "one cache entry expected, found \(entries)")

        let second = ProgramCache(context: cl.context, device: cl.device, directory: dir)
        let program = try second.program(file: "layout.cl", source: source, options: "-cl-std=CL1.2")
        #expect(second.sourceBuilds == 0 && second.diskHits == 1, "a fresh cache should load the binary from disk")
        _ = try CLKernel(program: program, name: "swap_axes")

        // Different options are a different binary.
        let other = ProgramCache(context: cl.context, device: cl.device, directory: dir)
        _ = try other.program(file: "layout.cl", source: source, options: "-cl-std=CL1.2 -DUNUSED=1")
        #expect(other.sourceBuilds == 1)

        for damage in [Data("garbage".utf8), Data()] {
            for name in entries { try damage.write(to: dir.appendingPathComponent(name)) }
            let afterDamage = ProgramCache(context: cl.context, device: cl.device, directory: dir)
            let rebuilt = try afterDamage.program(file: "layout.cl", source: source, options: "-cl-std=CL1.2")
            #expect(afterDamage.sourceBuilds == 1 && afterDamage.diskHits == 0, "a damaged entry must be rebuilt")
            _ = try CLKernel(program: rebuilt, name: "transpose_tiles")
            let healed = ProgramCache(context: cl.context, device: cl.device, directory: dir)
            _ = try healed.program(file: "layout.cl", source: source, options: "-cl-std=CL1.2")
            #expect(healed.diskHits == 1, "the rebuilt entry should have replaced the damaged one")
        }
    }

    @Test("Cache entries are checked for key, length and checksum")
    func cacheEntryFormat() {
        let binary: [UInt8] = Array(0..<200).map { UInt8($0 % 251) }
        let data = ProgramCache.encode(binary, key: "k1")
        #expect(ProgramCache.decode(data, key: "k1") == binary)
        #expect(ProgramCache.decode(data, key: "k2") == nil)
        #expect(ProgramCache.decode(data.dropLast(), key: "k1") == nil)
        var flipped = data
        flipped[flipped.count / 2] ^= 0xFF
        #expect(ProgramCache.decode(flipped, key: "k1") == nil)
    }

    @Test("Pool capacities round up by at most a quarter")
    func capacities() {
        for n in [1, 63, 64, 65, 100, 1000, 4097, 1 << 20, (1 << 20) + 1] {
            let c = BufferPool.capacity(for: n)
            #expect(c >= n && c >= 64 && Double(c) <= max(64, Double(n) * 1.25 + 1), "capacity \(c) for \(n)")
        }
    }

    func trainingLikeStep(_ b: Backend, _ g: ConvGeometry, _ x: DeviceBuffer, _ w: DeviceBuffer) throws {
        let y = try b.buffer(count: g.outputCount)
        try b.convolutionForward(g, input: x, weight: w, output: y)
        try b.pointwise(.activation(.leakyRelu(slope: 0.2)), count: g.outputCount, operands: [y, y])
        let dx = try b.buffer(count: g.inputCount), dw = try b.buffer(count: g.weightCount)
        try b.convolutionBackwardData(g, outputGradient: y, weight: w, inputGradient: dx)
        try b.convolutionBackwardWeights(g, input: x, outputGradient: y, weightGradient: dw)
        let loss = try b.buffer(count: 1)
        try b.reduce(.mean, inputs: [y], output: loss)
        try b.synchronize()
    }

    @Test("Steady state allocates nothing: repeated steps reuse pooled buffers")
    func steadyStateCPU() throws {
        try checkSteadyState(CPUBackend())
    }

    @Test("Steady state allocates nothing on OpenCL", .requiresOpenCL)
    func steadyStateOpenCL() throws {
        try checkSteadyState(try OpenCLTestSupport.backend())
    }

    func checkSteadyState(_ b: Backend) throws {
        let g = ConvGeometry(batch: 4, inChannels: 3, height: 9, width: 9, outChannels: 5, kernel: 4, stride: 2, padding: 1)
        let x = try b.buffer(randomValues(g.inputCount, seed: 1)), w = try b.buffer(randomValues(g.weightCount, seed: 2))
        try trainingLikeStep(b, g, x, w)
        let warm = b.pool.statistics
        for _ in 0..<3 { try trainingLikeStep(b, g, x, w) }
        let after = b.pool.statistics
        #expect(after.allocations == warm.allocations, "\(after.allocations - warm.allocations) new allocations in steady state")
        #expect(after.reuses > warm.reuses)
    }
}
