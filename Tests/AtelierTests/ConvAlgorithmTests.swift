import Foundation
import Testing
@testable import AtelierBench
@testable import Atelier
@testable import AtelierDevices
@testable import AtelierGraph
@testable import AtelierModels
@testable import AtelierTraining

/// The OpenCL path's choice of convolution algorithm per pass and shape:
/// the rule for untuned shapes, tuned choices overriding it, tuning files
/// from before the choice existed, and the tuner's sweep.
struct ConvAlgorithmTests {
    static let layer = ConvGeometry(batch: 2, inChannels: 3, height: 9, width: 8, outChannels: 5, kernel: 3, stride: 2, padding: 1)

    static func device(_ kind: OpenCLDeviceInfo.Kind, localMemory: String, maxWorkGroupSize: Int = 1024) -> OpenCLDeviceInfo {
        OpenCLDeviceInfo(platformIndex: 0, deviceIndex: 0, platformName: "test", platformVersion: "OpenCL 3.0", name: "test device",
                         vendor: "test", kind: kind, computeUnits: 100, globalMemoryBytes: 1 << 34, localMemoryBytes: 1 << 16,
                         localMemoryType: localMemory, maxWorkGroupSize: maxWorkGroupSize, openCLCVersion: "OpenCL C 1.2",
                         driverVersion: "1", baseAddressAlignmentBits: 1024)
    }

    @Test("Untuned shapes: im2col+GEMM on CPU devices; implicit GEMM on GPUs only for layers with <= 4 channels on a side")
    func rule() {
        let cpu = Self.device(.cpu, localMemory: "global"), gpu = Self.device(.gpu, localMemory: "local")
        let narrow = Self.layer
        var wide = narrow
        wide.inChannels = 64
        wide.outChannels = 128
        for pass in ConvPass.allCases {
            #expect(ConvAlgorithm.rule(for: pass, narrow, device: cpu) == .columns)
            #expect(ConvAlgorithm.rule(for: pass, wide, device: gpu) == .columns)
            guard case .implicitGemm(let block, _) = ConvAlgorithm.rule(for: pass, narrow, device: gpu) else {
                Issue.record("\(pass) of \(narrow) on a GPU: expected implicit GEMM")
                continue
            }
            #expect(block == (pass == .backwardData ? 3 : 5))
        }
    }

    @Test("The defaults fit every device's work-group limit", arguments: [1, 8, 16, 64, 100, 128, 256, 1024])
    func defaultsFitWorkGroups(limit: Int) throws {
        for (kind, memory) in [(OpenCLDeviceInfo.Kind.gpu, "local"), (.cpu, "global"), (.gpu, "global")] {
            let device = Self.device(kind, localMemory: memory, maxWorkGroupSize: limit)
            try DeviceTuning.defaults(for: device).validate(maxWorkGroupSize: limit)
            for pass in ConvPass.allCases {
                try ConvAlgorithm.rule(for: pass, Self.layer, device: device).validate(maxWorkGroupSize: limit)
            }
        }
    }

    @Test("A tuned choice overrides the rule for its pass and shape only")
    func tunedChoice() {
        let cpu = Self.device(.cpu, localMemory: "global")
        var tuning = DeviceTuning.defaults(for: cpu)
        tuning.convolutions = [ConvPass.backwardData.key(Self.layer): .direct(width: 8, pixels: 4)]
        #expect(tuning.convolution(for: .backwardData, Self.layer, device: cpu) == .direct(width: 8, pixels: 4))
        #expect(tuning.convolution(for: .forward, Self.layer, device: cpu) == .columns)
        var other = Self.layer
        other.batch = 3
        #expect(tuning.convolution(for: .backwardData, other, device: cpu) == .columns)
        tuning.convolution = .implicitGemm(block: 2, local: 8)
        #expect(tuning.convolution(for: .forward, Self.layer, device: cpu) == .implicitGemm(block: 2, local: 8))
        #expect(tuning.convolution(for: .backwardData, Self.layer, device: cpu) == .direct(width: 8, pixels: 4))
    }

    @Test("Tuning files saved before per-layer convolution choices still load; bad choices are rejected")
    func tuningFiles() throws {
        let cpu = Self.device(.cpu, localMemory: "global")
        var tuning = DeviceTuning.defaults(for: cpu)
        tuning.convolutions = [ConvPass.forward.key(Self.layer): .direct(width: 16, pixels: 8)]
        let data = try JSONEncoder().encode(tuning)
        let roundTrip = try JSONDecoder().decode(DeviceTuning.self, from: data)
        #expect(roundTrip == tuning)
        var old = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        old["convolutions"] = nil
        old["convolution"] = nil
        let decoded = try JSONDecoder().decode(DeviceTuning.self, from: try JSONSerialization.data(withJSONObject: old))
        #expect(decoded.convolutions == nil && decoded.convolution == nil)
        tuning.convolutions = [ConvPass.forward.key(Self.layer): .direct(width: 3, pixels: 8)]
        #expect(throws: ShapeError.self) { try tuning.validate(maxWorkGroupSize: 1024) }
        tuning.convolutions = nil
        tuning.convolution = .implicitGemm(block: 4, local: 4096)
        #expect(throws: ShapeError.self) { try tuning.validate(maxWorkGroupSize: 1024) }
    }

    @Test("--conv's algorithm names")
    func parsing() {
        #expect(ConvAlgorithm(parsing: "columns") == .columns)
        #expect(ConvAlgorithm(parsing: "implicit:8:64") == .implicitGemm(block: 8, local: 64))
        #expect(ConvAlgorithm(parsing: "direct:16:4") == .direct(width: 16, pixels: 4))
        for bad in ["", "implicit", "implicit:8", "direct:x:4", "columns:1", "winograd"] {
            #expect(ConvAlgorithm(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test("The tuner's second look keeps the current setting unless the sweep's best is clearly faster", .requiresOpenCL)
    func secondLook() throws {
        let cl = try OpenCLTestSupport.backend()
        let cases = BenchCatalogue.conv("test", "conv 3->5 3x3s2", Self.layer)
        var lines: [String] = []
        #expect(try Tuner.confirm(cl.tuning, over: cl.tuning, cases: cases, deviceID: cl.info.id, repeats: 1) { lines.append($0) } == cl.tuning)
        #expect(lines.isEmpty, "same setting: nothing to time")
        var other = cl.tuning
        other.pointwiseLocal = max(1, cl.tuning.pointwiseLocal / 2)
        // An impossible margin: the sweep's best would have to take no time at all.
        let kept = try Tuner.confirm(other, over: cl.tuning, cases: cases, deviceID: cl.info.id, repeats: 1, margin: 1) { lines.append($0) }
        #expect(kept == cl.tuning)
        #expect(lines.count == 1 && lines[0].contains("keeping the current setting"), "\(lines)")
    }

    @Test("The CPU path's tuner also keeps its current setting unless the sweep's best is clearly faster")
    func cpuSecondLook() throws {
        var lines: [String] = []
        let current = CPUTuning.defaults
        #expect(try CPUTuner.confirm(current, over: current, batch: 1, repeats: 1) { lines.append($0) } == current)
        #expect(lines.isEmpty)
        let other = CPUTuning(convolutionChunkBytes: 1 << 20, pixelMajorMinChannels: 4)
        #expect(try CPUTuner.confirm(other, over: current, batch: 1, repeats: 1, margin: 1) { lines.append($0) } == current)
        #expect(lines.count == 1 && lines[0].contains("keeping the current setting"), "\(lines)")
    }

    @Test("The tuner times every candidate per pass and keeps the fastest, one choice per computation", .requiresOpenCL)
    func tunerChoosesPerPass() throws {
        let cl = try OpenCLTestSupport.backend()
        // The same layer under two names: the same three computations.
        let cases = BenchCatalogue.conv("test", "conv 3->5 3x3s2", Self.layer) + BenchCatalogue.conv("twin", "conv", Self.layer)
        var lines: [String] = []
        let choices = try Tuner.convolutionChoices(deviceID: cl.info.id, info: cl.info, base: cl.tuning, cases: cases,
                                                   repeats: 1) { lines.append($0) }
        let candidates = Tuner.convolutionCandidates(for: cl.info)
        for pass in ConvPass.allCases {
            let choice = try #require(choices[pass.key(Self.layer)], "no choice for \(pass): \(lines)")
            let rule = ConvAlgorithm.rule(for: pass, Self.layer, device: cl.info)
            #expect(candidates.contains(choice) || choice == rule)
        }
        #expect(lines.filter { $0.hasPrefix("convolution [") && $0.hasSuffix("timed") }.count >= candidates.count, "\(lines)")
        let decisions = lines.filter { $0.contains("; default ") }
        #expect(decisions.count == 3 && decisions.allSatisfy { $0.contains("test conv") && $0.contains(" = twin conv") }, "\(lines)")
        #expect(choices.count == 3)
    }
}
