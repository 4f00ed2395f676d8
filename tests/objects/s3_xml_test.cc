// The S3 XML replies S3Store reads, as AWS and radosgw send them, and the
// malformed ones a broken or hostile server could send.
#include "objects/s3_xml.h"

#include <gtest/gtest.h>

namespace lares::s3 {
namespace {

TEST(S3XmlTest, ParsesAnAwsErrorDocument) {
  Result<ErrorDocument> error = parse_error(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Error>\n"
      "  <Code>NoSuchKey</Code>\n"
      "  <Message>The resource you requested does not exist</Message>\n"
      "  <Resource>/mybucket/myfoto.jpg</Resource>\n"
      "  <RequestId>4442587FB7D0A2F9</RequestId>\n"
      "</Error>");
  ASSERT_TRUE(error.is_ok()) << error.status().to_string();
  EXPECT_EQ(error->code, "NoSuchKey");
  EXPECT_EQ(error->message, "The resource you requested does not exist");
  EXPECT_EQ(error->resource, "/mybucket/myfoto.jpg");
  EXPECT_EQ(error->request_id, "4442587FB7D0A2F9");
}

TEST(S3XmlTest, ParsesARadosgwErrorDocumentWithAnEmptyMessage) {
  Result<ErrorDocument> error = parse_error(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code>"
      "<Message></Message><RequestId>tx00000b2e72b4281f84d6b-006b047f62-100f-default</RequestId>"
      "<HostId>100f-default-default</HostId></Error>");
  ASSERT_TRUE(error.is_ok()) << error.status().to_string();
  EXPECT_EQ(error->code, "SignatureDoesNotMatch");
  EXPECT_EQ(error->message, "");
  EXPECT_EQ(error->request_id, "tx00000b2e72b4281f84d6b-006b047f62-100f-default");
}

TEST(S3XmlTest, EntitiesAreDecoded) {
  Result<ErrorDocument> error = parse_error(
      "<Error><Code>X</Code><Message>a &lt;b&gt; &amp; &quot;c&quot;</Message></Error>");
  ASSERT_TRUE(error.is_ok());
  EXPECT_EQ(error->message, "a <b> & \"c\"");
}

TEST(S3XmlTest, ParsesALastListObjectsV2Page) {
  Result<ListObjectsPage> page = parse_list_objects_v2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
      "  <Name>bucket</Name>\n"
      "  <Prefix>repo/</Prefix>\n"
      "  <KeyCount>2</KeyCount>\n"
      "  <MaxKeys>1000</MaxKeys>\n"
      "  <IsTruncated>false</IsTruncated>\n"
      "  <Contents>\n"
      "    <Key>repo/a b</Key>\n"
      "    <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
      "    <ETag>\"fba9dede5f27731c9771645a39863328\"</ETag>\n"
      "    <Size>434234</Size>\n"
      "    <StorageClass>STANDARD</StorageClass>\n"
      "  </Contents>\n"
      "  <Contents><Key>repo/c&amp;d</Key><Size>0</Size></Contents>\n"
      "</ListBucketResult>");
  ASSERT_TRUE(page.is_ok()) << page.status().to_string();
  EXPECT_FALSE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "");
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "repo/a b");
  EXPECT_EQ(page->objects[0].size_bytes, 434234u);
  EXPECT_EQ(page->objects[1].key, "repo/c&d");
  EXPECT_EQ(page->objects[1].size_bytes, 0u);
}

TEST(S3XmlTest, ParsesATruncatedListObjectsV2Page) {
  Result<ListObjectsPage> page = parse_list_objects_v2(
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix></Prefix><MaxKeys>1</MaxKeys>"
      "<ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwN=</NextContinuationToken>"
      "<KeyCount>1</KeyCount><IsTruncated>true</IsTruncated>"
      "<Contents><Key>k</Key><Size>18446744073709551615</Size></Contents>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.is_ok()) << page.status().to_string();
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwN=");
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].size_bytes, UINT64_MAX);
}

TEST(S3XmlTest, AnEmptyListingHasNoObjects) {
  Result<ListObjectsPage> page = parse_list_objects_v2(
      "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.is_ok());
  EXPECT_TRUE(page->objects.empty());
}

TEST(S3XmlTest, KeysKeepTheirSpaces) {
  Result<ListObjectsPage> page = parse_list_objects_v2(
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Key> lead and trail </Key><Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.is_ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, " lead and trail ");
}

TEST(S3XmlTest, ParsesInitiateMultipartUpload) {
  Result<std::string> upload_id = parse_initiate_multipart_upload(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
      "  <Bucket>example-bucket</Bucket>\n"
      "  <Key>example-object</Key>\n"
      "  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
      "</InitiateMultipartUploadResult>");
  ASSERT_TRUE(upload_id.is_ok()) << upload_id.status().to_string();
  EXPECT_EQ(*upload_id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
}

TEST(S3XmlTest, CompleteMultipartUploadMaySucceedOrHoldAnError) {
  Result<CompleteMultipartUploadResult> done = parse_complete_multipart_upload(
      "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Location>http://b.s3.amazonaws.com/k</Location><Bucket>b</Bucket><Key>k</Key>"
      "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>");
  ASSERT_TRUE(done.is_ok()) << done.status().to_string();
  EXPECT_EQ(done->etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
  EXPECT_FALSE(done->error.has_value());

  // Sent with status 200: S3 had already answered when the error came.
  Result<CompleteMultipartUploadResult> failed = parse_complete_multipart_upload(
      "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try "
      "again.</Message><RequestId>656c76696e6727732072657175657374</RequestId></Error>");
  ASSERT_TRUE(failed.is_ok()) << failed.status().to_string();
  ASSERT_TRUE(failed->error.has_value());
  EXPECT_EQ(failed->error->code, "InternalError");
}

TEST(S3XmlTest, WritesTheCompleteMultipartUploadBody) {
  EXPECT_EQ(complete_multipart_upload_body({{1, "\"a54357aff0632cce46d942af68356b38\""},
                                            {2, "\"0c78aef83f66abc1fa1e8477f296d394\""}}),
            "<CompleteMultipartUpload>"
            "<Part><PartNumber>1</PartNumber><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;"
            "</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;"
            "</ETag></Part>"
            "</CompleteMultipartUpload>");
  EXPECT_EQ(create_bucket_body("eu-central-1"),
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<LocationConstraint>eu-central-1</LocationConstraint></CreateBucketConfiguration>");
}

// Every malformed reply is a clear kCorruption, never a crash or a value.
TEST(S3XmlTest, MalformedRepliesAreCorruption) {
  const std::string_view bad_lists[] = {
      "",
      "not xml at all",
      "<ListBucketResult><IsTruncated>false</IsTruncated>",  // unclosed
      "<ListBucketResult><IsTruncated>false</IsTruncated></Wrong>",
      "<Other><IsTruncated>false</IsTruncated></Other>",
      "<ListBucketResult></ListBucketResult>",  // no IsTruncated
      "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",  // no token
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents>"
      "</ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents>"
      "</ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>-1</Size>"
      "</Contents></ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
      "<Size>18446744073709551616</Size></Contents></ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>12x</Size>"
      "</Contents></ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key></Key><Size>1</Size>"
      "</Contents></ListBucketResult>",
  };
  for (std::string_view body : bad_lists) {
    Result<ListObjectsPage> page = parse_list_objects_v2(body);
    ASSERT_FALSE(page.is_ok()) << body;
    EXPECT_EQ(page.status().code(), Code::kCorruption) << body;
    EXPECT_NE(page.status().message().find("ListObjectsV2"), std::string::npos)
        << page.status().message();
  }
  EXPECT_EQ(parse_error("<Error><Message>m</Message></Error>").status().code(), Code::kCorruption);
  EXPECT_EQ(parse_error("<html><body>502 Bad Gateway</body></html>").status().code(),
            Code::kCorruption);
  EXPECT_EQ(parse_initiate_multipart_upload("<InitiateMultipartUploadResult/>").status().code(),
            Code::kCorruption);
  EXPECT_EQ(
      parse_initiate_multipart_upload(
          "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>")
          .status()
          .code(),
      Code::kCorruption);
  EXPECT_EQ(parse_complete_multipart_upload("<CompleteMultipartUploadResult>").status().code(),
            Code::kCorruption);
  EXPECT_EQ(parse_complete_multipart_upload("<Error></Error>").status().code(), Code::kCorruption);
}

TEST(S3XmlTest, DeepNestingIsRefusedNotACrash) {
  std::string body;
  for (int i = 0; i < 100000; ++i) body += "<a>";
  EXPECT_EQ(parse_list_objects_v2(body).status().code(), Code::kCorruption);
  EXPECT_EQ(parse_error(body).status().code(), Code::kCorruption);
}

TEST(S3XmlTest, BinaryGarbageIsCorruption) {
  const std::string body("<Error>\0<Code>X</Code></Error>", 30);
  EXPECT_FALSE(parse_error(body).is_ok());
  EXPECT_FALSE(parse_list_objects_v2(std::string("\xff\xfe<\x00", 4)).is_ok());
}

TEST(S3XmlTest, HttpDatesParseStrictly) {
  auto t = s3::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(*t, 784111777);
  EXPECT_EQ(*s3::parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(*s3::parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"), 1835481599);
  for (const char* bad : {"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT",
                          "Sun Nov  6 08:49:37 1994", "Sun, 06 Nox 1994 08:49:37 GMT",
                          "Sun, 36 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1969 08:49:37 GMT",
                          "Sun, 06 Nov 1994 24:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
                          "Sun, 0x Nov 1994 08:49:37 GMT", "Wed, 31 Apr 2026 00:00:00 GMT",
                          "Sun, 29 Feb 2026 00:00:00 GMT"}) {
    EXPECT_EQ(s3::parse_http_date(bad).status().code(), Code::kCorruption) << bad;
  }
}

}  // namespace
}  // namespace lares::s3
