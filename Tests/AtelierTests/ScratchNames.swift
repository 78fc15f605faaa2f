import Foundation
import Testing
@testable import AtelierModels
struct ScratchNames {
    @Test func names() throws {
        var rng = RandomGenerator(seed: 0)
        for kind in [ModelKind.gan, .dcgan, .cdcgan] {
            let m = try GANModel(config: ModelConfig(kind: kind, classNames: FashionMNIST.classNames), rng: &rng)
            print("== \(kind)"); for (n, p) in m.namedParameters { print(n, p.shape.dims, p.trainable) }
            print("extra", m.extraState().keys.sorted())
        }
        let p2p = try Pix2PixModel(config: ModelConfig(kind: .pix2pix, imageChannels: 3, imageSize: 64, translation: TranslationSettings(inputChannels: 1)), rng: &rng)
        print("== pix2pix"); for (n, p) in p2p.namedParameters.prefix(12) { print(n, p.shape.dims, p.trainable) }
        let cg = try CycleGANModel(config: ModelConfig(kind: .cyclegan, imageChannels: 3, imageSize: 64, ganMode: .lsgan, translation: TranslationSettings(inputChannels: 3, norm: .instance)), rng: &rng)
        print("== cyclegan"); for (n, p) in cg.namedParameters.prefix(8) { print(n, p.shape.dims, p.trainable) }
        print(cg.namedParameters.map(\.name).filter { $0.hasPrefix("netD") || $0.hasPrefix("D") }.prefix(6))
    }
}
