import Foundation
import Testing
@testable import AtelierDevices
@testable import AtelierModels
@testable import AtelierTraining

/// Random mutations of valid files, fed to every loader a user's files
/// reach: any input must end in a result or a thrown error, never a crash,
/// a hang or an allocation the file cannot justify (the loaders bound what
/// they allocate by the file's size and PixelImage.maximumPixels). A crash
/// ends the test process, so the run fails loudly on the seed that found it.
@Suite(.serialized)
struct FuzzTests {
    /// Seeded mutations (the tests' SplitMix64), so a crash can be replayed.
    struct Mutator {
        var random: SplitMix64
        init(state: UInt64) { random = SplitMix64(seed: state) }
        mutating func next() -> UInt64 { random.next() }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

        /// One to four edits: bit flips, bytes set to extremes or noise,
        /// truncation, a run repeated, bytes inserted; headers get most.
        mutating func mutate(_ original: [UInt8]) -> [UInt8] {
            var bytes = original
            for _ in 0...below(4) {
                guard !bytes.isEmpty else { return bytes }
                // Half the edits hit the first 64 bytes, where headers are.
                let at = below(2) == 0 ? below(min(64, bytes.count)) : below(bytes.count)
                switch below(6) {
                case 0: bytes[at] ^= UInt8(1 << below(8))
                case 1: bytes[at] = [0x00, 0xFF, 0x7F, 0x80][below(4)]
                case 2: bytes[at] = UInt8(truncatingIfNeeded: next())
                case 3: bytes = Array(bytes.prefix(below(bytes.count)))
                case 4:
                    let length = min(1 + below(16), bytes.count - at)
                    bytes.insert(contentsOf: bytes[at..<(at + length)], at: at)
                default: bytes.insert(contentsOf: (0..<(1 + below(8))).map { _ in UInt8(truncatingIfNeeded: next()) }, at: at)
                }
            }
            return bytes
        }
    }

    static let cases = 2000

    /// `body` on `cases` mutations of `seed`; counts the inputs that loaded.
    static func fuzz(_ seed: [UInt8], salt: UInt64, _ body: (Data) throws -> Void) -> Int {
        var mutator = Mutator(state: salt)
        var loaded = 0
        for _ in 0..<cases {
            if (try? body(Data(mutator.mutate(seed)))) != nil { loaded += 1 }
        }
        return loaded
    }

    @Test("Thousands of mutated PNG and JPEG files decode or fail with an error", .timeLimit(.minutes(3)))
    func pictures() throws {
        let dir = try temporaryDirectory("fuzz-pictures")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rgb = PixelImage(width: 24, height: 16, channels: 3, pixels: (0..<(24 * 16 * 3)).map { UInt8($0 % 251) })
        let gray = PixelImage(width: 16, height: 16, channels: 1, pixels: (0..<256).map { UInt8($0) })
        var seeds: [(String, [UInt8])] = []
        for (name, picture) in [("rgb", rgb), ("gray", gray)] {
            try PNG.write(picture, to: dir.appendingPathComponent(name + ".png").path)
            try JPEG.write(picture, to: dir.appendingPathComponent(name + ".jpg").path)
            seeds.append((name + ".png", Array(try Data(contentsOf: dir.appendingPathComponent(name + ".png")))))
            seeds.append((name + ".jpg", Array(try Data(contentsOf: dir.appendingPathComponent(name + ".jpg")))))
        }
        for (index, (name, seed)) in seeds.enumerated() {
            let loaded = Self.fuzz(seed, salt: UInt64(index + 1)) { data in
                let picture = name.hasSuffix(".png") ? try PNG.decode(data, name: name) : try JPEG.decode(data, name: name)
                #expect(picture.pixels.count == picture.width * picture.height * picture.channels)
            }
            // Some mutations leave a readable picture (a flipped pixel); most are refused.
            #expect(loaded < Self.cases, "\(name): every mutation loaded")
        }
    }

    @Test("Thousands of mutated IDX files read or fail with an error", .timeLimit(.minutes(3)))
    func idx() throws {
        let dir = try temporaryDirectory("fuzz-idx")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("images-idx3-ubyte").path
        let seed: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 4] + (0..<40).map { UInt8($0) }
        _ = Self.fuzz(seed, salt: 11) { data in
            try data.write(to: URL(fileURLWithPath: path))
            let (dims, bytes) = try IDX.read(path)
            #expect(bytes.count == CheckedSize.product(dims))
        }
    }

    @Test("Thousands of mutated checkpoints and options files load or fail with an error", .timeLimit(.minutes(3)))
    func checkpointsAndOptions() throws {
        let dir = try temporaryDirectory("fuzz-checkpoints")
        defer { try? FileManager.default.removeItem(at: dir) }
        var state = TrainingState(model: ModelConfig(kind: .dcgan), groups: [], seed: 1, batchSize: 64, dropLast: true, epoch: 1,
                                  stepInEpoch: 0, step: 10, epochStartRandom: RandomGenerator(seed: 1), random: RandomGenerator(seed: 2))
        state.epoch = 1
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = [Checkpoint.stateKey: String(decoding: try encoder.encode(state), as: UTF8.self)]
        let entries = [Safetensors.Entry(name: "a.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                       Safetensors.Entry(name: "b.bias", shape: [3], values: [0.5, -1, 2])]
        let checkpoint = Array(try Safetensors.encode(entries, metadata: metadata))
        let path = dir.appendingPathComponent("checkpoint.safetensors").path
        _ = Self.fuzz(checkpoint, salt: 21) { data in
            try data.write(to: URL(fileURLWithPath: path))
            let (read, tensors) = try Checkpoint.read(path)
            #expect(read.batchSize >= 1)
            for entry in tensors.values { #expect(entry.values.count == CheckedSize.product(entry.shape)) }
        }
        let options = Array(try encoder.encode(TrainingOptions()))
        _ = Self.fuzz(options, salt: 31) { data in _ = try JSONDecoder().decode(TrainingOptions.self, from: data) }
        let tuning = Array(try encoder.encode(CPUTuning.defaults))
        _ = Self.fuzz(tuning, salt: 41) { data in try JSONDecoder().decode(CPUTuning.self, from: data).validate() }
    }
}
