// Deploy settings for the uploader (sample with an AWS-style access key).
module.exports = {
  region: "eu-west-1",
  bucket: "acme-uploads",
  accessKeyId: "AKIAQ3EGPRWM5XNYTL7Z",
};
